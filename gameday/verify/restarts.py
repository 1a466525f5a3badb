"""Replica restarts during a gate's window, as the platform itself counts them.

A replica killed during the smoke gate and restarted by its supervisor (or the kubelet) costs a request or two in
hundreds: the error rate passes, and the gate would say nothing of a restart that on-call sees at once in
``kubectl get pods`` (RESTARTS) or in supervisor's new pid. So the gate reads the target's replicas at the start
and at the end of its window and names every replica whose restart count grew, whose process changed or went
away, or that is gone. Only the target's own view is compared, never gameday's ledger: a restart nobody caused on
purpose is exactly the one to see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from gameday.targets.model import Replica


@dataclass(frozen=True)
class Restart:
    """One replica that restarted (or was replaced) during the window."""

    replica: str
    restarts: int  # added to the platform's count during the window (0: its process changed, not yet counted)
    pid_before: int | None = None
    pid_after: int | None = None
    gone: bool = False  # no longer listed at the end (a deleted pod, replaced under another name)

    @property
    def counted(self) -> int:
        """How many restarts it stands for: a process that changed or went away is at least one."""
        return max(1, self.restarts)

    def describe(self) -> str:
        """``replica-0 1 restart (pid 4242 -> 4310)``."""
        if self.gone:
            return f"{self.replica} gone"
        text = f"{self.replica} {self.counted} restart{'s' if self.counted > 1 else ''}"
        if self.pid_before is not None and self.pid_before != self.pid_after:
            text += f" (pid {self.pid_before} -> {self.pid_after or 'none'})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)


def restarts_between(before: Iterable[Replica], after: Iterable[Replica]) -> list[Restart]:
    """Every replica listed ``before`` that restarted by ``after``: its count grew, its pid changed or is gone, or
    it is no longer listed."""
    now = {r.name: r for r in after}
    seen = []
    for old in before:
        new = now.get(old.name)
        if new is None:
            seen.append(Restart(old.name, 0, old.pid, None, gone=True))
            continue
        grown = max(0, new.restarts - old.restarts)
        if grown or (old.pid is not None and new.pid != old.pid):
            seen.append(Restart(old.name, grown, old.pid, new.pid))
    return seen
