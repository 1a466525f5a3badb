"""The canary operations a target offers: a share of the replicas on a new release, measured per side, then promoted
or rolled back.

A target knows nothing of verdicts: it moves replicas between the primary (the current revision) and the canary
(the new release), and reports what each side served in a window from the load balancer's own per-server records
(HAProxy's request log on the local target; per-pod metrics on a cluster), never from the client, which cannot
tell which side answered. ``gameday canary`` (gameday/canary/) decides; the ledger keeps what :meth:`undo` needs,
so ``gameday abort`` in another process puts the previous revision back on every replica.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from gameday.targets.model import Revision


@dataclass(frozen=True)
class Served:
    """What one side served in a window: requests, failures (5xx or no answer), latencies of the others (ms)."""

    requests: int
    failures: int
    latencies_ms: tuple[float, ...] = ()
    first_at: float | None = None  # when the first of these requests arrived
    restarts: int = 0  # its replicas' restarts in the window, as the platform counts them (supervisor, restartCount)


@dataclass(frozen=True)
class Window:
    """Where a measurement window starts: a wall-clock time, plus whatever the source needs to read from there."""

    at: float
    position: Any = None


class CanaryDriver(ABC):
    """One canary on one target, from :meth:`begin` to :meth:`promote` or :meth:`rollback` (or :meth:`undo`)."""

    @abstractmethod
    def replica_count(self) -> int:
        """How many replicas the service runs (steps are counts of canary replicas below it)."""

    @abstractmethod
    def known_versions(self) -> set[str]:
        """Releases this target knows how to run: the profile's releases and the rollout history's versions."""

    @abstractmethod
    def in_progress(self) -> str | None:
        """A canary found on the target itself (a canary Deployment left behind), described; None when none."""

    @abstractmethod
    def saved(self) -> dict[str, Any]:
        """What :meth:`undo` needs, read before :meth:`begin` changes anything (for the ledger entry)."""

    @abstractmethod
    def begin(self, version: str, cause: str) -> Revision:
        """Record the new release (nothing serves it yet): called only once the ledger entry is written."""

    @abstractmethod
    def set_canary_replicas(self, count: int, timeout: float) -> list[str]:
        """Make ``count`` replicas serve the new release (the others the previous one); wait until the load
        balancer sends them traffic. Returns the canary's replicas; TargetError when they do not get ready."""

    def ready_timeout(self) -> float:
        """How long one replica of the new release may take to get ready (the local target: from the start times
        measured at ``up``)."""
        return 60.0

    @abstractmethod
    def mark(self) -> Window:
        """The start of a measurement window: now."""

    def unmeasurable(self) -> str | None:
        """Why this target cannot tell the two sides' requests apart (the canary then refuses before any change);
        None when it can."""
        return None

    @abstractmethod
    def served(self, since: Window) -> tuple[Served, Served]:
        """(canary, primary) as the load balancer or the replicas' own metrics counted them since ``since``."""

    @abstractmethod
    def served_new(self) -> list[str]:
        """Every replica that ever ran the new release during this canary."""

    @abstractmethod
    def promote(self, timeout: float) -> Revision:
        """Every replica on the new release; the new revision."""

    @abstractmethod
    def rollback(self, timeout: float) -> Revision:
        """Every replica back on the previous revision, through the rollout history; that revision."""

    @abstractmethod
    def undo(self, saved: dict[str, Any], timeout: float) -> Revision | None:
        """Put back what :meth:`saved` recorded, from any process and whatever state the canary reached."""
