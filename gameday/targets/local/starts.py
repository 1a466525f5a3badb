"""How long the service's replicas take to start, as measured at ``up``, and the deadlines derived from it.

A constant deadline was tuned on our fast reference services on a quiet machine: a real service that takes 15-18 s
per replica on a busy 2-core machine ran out of a 30 s rollout deadline every time. So ``up`` measures each
replica's time from its start to its first passing readiness probe (the replicas start together, on a machine as
busy as it is then), keeps it in the stack's record, and every rollout, start and recovery wait of the local target
is derived from it: a replica gets ``SAFETY_FACTOR`` times the slowest measured start (at least ``FLOOR_S``), capped
by the profile's ``local.start_timeout_s``; a rollout of N replicas one by one gets N times that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STACK_KEY = "replica_start_s"  # in the stack's record (stack.json): replica -> seconds from start to ready at up
SAFETY_FACTOR = 3.0  # a start during a rollout may be slower than at up (a busier machine): this much slower at most
FLOOR_S = 10.0  # a replica that started in 0.5 s at up still gets this long: one slow start is not a failure


@dataclass(frozen=True)
class StartBudget:
    """How long one replica may take to start and get ready, and where that figure came from."""

    per_replica_s: float
    measured_s: float | None  # the slowest start measured at ``up``; None when the stack's record has none
    cap_s: float  # the profile's ``local.start_timeout_s``

    def rollout_s(self, replicas: int) -> float:
        """A rollout of ``replicas`` replicas replaced one after another."""
        return max(1, replicas) * self.per_replica_s

    def explain(self, replicas: int) -> str:
        """``3 replicas x 18 s``: how a rollout's deadline was made, for its timeout message."""
        return f"{replicas} replica{'s' if replicas != 1 else ''} x {self.per_replica_s:.0f} s"


def budget(stack: dict[str, Any], start_timeout_s: float) -> StartBudget:
    """The per-replica start budget of a stack (its record from ``up``) under the profile's start timeout."""
    measured = [float(v) for v in (stack.get(STACK_KEY) or {}).values() if isinstance(v, int | float)]
    if not measured:
        return StartBudget(start_timeout_s, None, start_timeout_s)
    slowest = max(measured)
    return StartBudget(min(start_timeout_s, max(FLOOR_S, SAFETY_FACTOR * slowest)), slowest, start_timeout_s)


def rollout_progress(names: list[str], waiting_on: int, version: str, starting_for_s: float) -> str:
    """What each replica of a one-by-one rollout was doing when its deadline passed: those before ``waiting_on``
    up on the new version, that one starting (for how long), the rest waiting their turn."""
    doing = [f"{name} up on {version}" for name in names[:waiting_on]]
    doing.append(f"{names[waiting_on]} starting for {starting_for_s:.0f} s")
    doing += [f"{name} waiting" for name in names[waiting_on + 1:]]
    return ", ".join(doing)
