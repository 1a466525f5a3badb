"""One fault vocabulary: each fault has a name, an inject and an undo, and the ledger records it.

The chaos actions, the game day and ``gameday abort`` all go through :func:`inject` and :func:`undo`.
Undo is idempotent: it first looks whether the runbook's resolution already repaired things.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from gameday.errors import UsageError
from gameday.ledger import Ledger, LedgerEntry
from gameday.safety import guard
from gameday.targets.base import DEPENDENCIES, Target


class Fault(ABC):
    """A named way of breaking the target, with its exact undo."""

    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[dict[str, str]] = {}  # parameter -> meaning

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check parameters; return them normalised. Raise UsageError on bad input."""
        unknown = set(params) - set(self.params)
        if unknown:
            raise UsageError(f"fault {self.name}: unknown parameter {sorted(unknown)[0]!r}")
        return dict(params)

    def snapshot(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        """What the undo will need, read before anything changes."""
        return {}

    @abstractmethod
    def inject(self, target: Target, params: dict[str, Any]) -> None:
        """Break the target."""

    @abstractmethod
    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        """Put the target back, whatever state it is in."""


def _replica_names(params: dict[str, Any]) -> dict[str, Any]:
    """``replicas`` as a list of names: a comma-separated string (from the CLI) is split."""
    names = params.get("replicas")
    if names is None:
        return params
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise UsageError("replicas must be a list of replica names (or a comma-separated string)")
    return {**params, "replicas": names}


def _dependency(params: dict[str, Any]) -> str:
    name = params.get("dependency")
    if name not in DEPENDENCIES:
        raise UsageError(f"unknown dependency {name!r}: expected one of {', '.join(DEPENDENCIES)}")
    return str(name)


class KillReplicas(Fault):
    """Every replica (or the named ones) killed with SIGKILL, ``rounds`` times."""

    name = "kill-replicas"
    description = "kill replicas abruptly, repeatedly (all pods down)"
    params: ClassVar[dict[str, str]] = {
        "replicas": "names to kill (default: all)",
        "rounds": "how many times to kill them (default 1, at most 100)",
        "interval": "seconds between rounds (default 0.5)",
    }

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        params = _replica_names(super().validate(params))
        try:
            rounds = int(params.get("rounds", 1))
            interval = float(params.get("interval", 0.5))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"fault {self.name}: rounds and interval must be numbers") from exc
        if not 1 <= rounds <= 100 or not 0 <= interval <= 10:
            raise UsageError(f"fault {self.name}: rounds must be 1-100 and interval 0-10 s")
        return {**params, "rounds": rounds, "interval": interval}

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        for i in range(params["rounds"]):
            target.terminate_replicas(params.get("replicas"))
            if i + 1 < params["rounds"]:
                time.sleep(params["interval"])  # the fault's own cadence

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.start_replicas(params.get("replicas"))
        if not target.wait_healthy(timeout=15):
            target.rollout_restart(wait=True)


class FreezeReplicas(Fault):
    """Replicas hang (SIGSTOP / paused): the load balancer answers 504, then 503."""

    name = "freeze-replicas"
    description = "make replicas hang instead of failing fast"
    params: ClassVar[dict[str, str]] = {"replicas": "names to freeze (default: all)"}

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        return _replica_names(super().validate(params))

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.freeze_replicas(params.get("replicas"))

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.thaw_replicas(params.get("replicas"))


class BadRelease(Fault):
    """The known-bad release rolled out."""

    name = "bad-release"
    description = "roll out the known-bad release (failed deployment)"
    params: ClassVar[dict[str, str]] = {"version": "the bad version (default: the configured known-bad release)"}

    def snapshot(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        current = target.current_revision()
        return {"version": current.version if current else None}

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        version = params.get("version") or target.bad_release()
        target.deploy(version, cause=f"gameday fault: bad release {version}", wait=True, timeout=30)

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        good = saved.get("version")
        current = target.current_revision()
        if good and current and current.version != good:
            matching = [r.number for r in target.history() if r.version == good]
            if matching:
                target.rollout_undo(to_revision=max(matching), wait=True)
            else:
                target.deploy(good, cause="gameday undo: restore release", wait=True)
        if not target.wait_healthy(timeout=20):
            target.rollout_restart(wait=True)


class BadConfig(Fault):
    """A broken configuration applied, and the replicas restarted onto it."""

    name = "bad-config"
    description = "apply a broken configuration (e.g. a wrong database host) and restart replicas"
    params: ClassVar[dict[str, str]] = {"changes": "configuration keys to change (default: a wrong database host)"}

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        params = super().validate(params)
        changes = params.get("changes")
        if changes is not None and (not isinstance(changes, dict) or not changes):
            raise UsageError(f"fault {self.name}: changes must be a non-empty mapping of configuration keys")
        return params

    def snapshot(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        return {"config": target.config()}

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        changes = params.get("changes") or target.broken_config()
        target.apply_config(changes, cause="gameday fault: bad configuration")
        target.terminate_replicas()

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        previous = saved.get("config")
        if previous is not None and target.config() != previous:
            target.replace_config(previous, cause="gameday undo: restore previous configuration")
            target.rollout_restart(wait=True)
        elif not target.wait_healthy(timeout=10):
            target.rollout_restart(wait=True)


class _DependencyFault(Fault):
    """A fault on one named dependency."""

    params: ClassVar[dict[str, str]] = {"dependency": "postgres, redis or kafka"}

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        params = super().validate(params)
        _dependency(params)
        return params


class StopDependency(_DependencyFault):
    """A dependency stopped (process stopped / scaled to zero)."""

    name = "stop-dependency"
    description = "stop PostgreSQL, Redis or Kafka"

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.stop_dependency(params["dependency"])

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.start_dependency(params["dependency"], wait=True)


class HangDependency(_DependencyFault):
    """A dependency hangs (SIGSTOP / egress denied) instead of failing fast."""

    name = "hang-dependency"
    description = "make PostgreSQL, Redis or Kafka hang"

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.hang_dependency(params["dependency"])

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.release_dependency(params["dependency"])


FAULTS: dict[str, Fault] = {
    f.name: f for f in (KillReplicas(), FreezeReplicas(), BadRelease(), BadConfig(), StopDependency(), HangDependency())
}


def get_fault(name: str) -> Fault:
    """A fault by name, or one clear line listing the known ones."""
    try:
        return FAULTS[name]
    except KeyError:
        raise UsageError(f"unknown fault {name!r}: expected one of {', '.join(FAULTS)}") from None


def inject(target: Target, ledger: Ledger, name: str, params: dict[str, Any] | None = None) -> LedgerEntry:
    """Validate, check safety, record in the ledger, then apply; on failure undo at once."""
    fault = get_fault(name)
    clean = fault.validate(dict(params or {}))
    guard(target)
    saved = fault.snapshot(target, clean)
    entry = ledger.add(LedgerEntry(fault=name, params=clean, target=target.identity(), undo=saved))
    try:
        fault.inject(target, clean)
    except BaseException:
        undo(target, ledger, entry)
        raise
    ledger.update(entry.id, state="injected")
    entry.state = "injected"
    return entry


def undo(target: Target, ledger: Ledger, entry: LedgerEntry) -> None:
    """Undo one recorded fault and remove it from the ledger."""
    get_fault(entry.fault).undo(target, entry.params, entry.undo)
    ledger.remove(entry.id)
