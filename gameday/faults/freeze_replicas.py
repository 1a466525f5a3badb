"""freeze-replicas: replicas hang (SIGSTOP / paused) instead of failing fast: the load balancer answers 504, 503.

The processes beside a replica (its worker, ``local.processes``) are frozen and resumed with it: its pod hangs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gameday.faults.base import ReplicaFault
from gameday.verdict_keys import REPLICAS_HANGING

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target


class FreezeReplicas(ReplicaFault):
    """Alive but not answering: what a hung dependency does to a service without timeouts."""

    name = "freeze-replicas"
    description = "make replicas hang instead of failing fast"

    def expected_verdict(self, params: dict[str, Any], profile: Profile, target_kind: str | None = None) -> str:
        return REPLICAS_HANGING

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.freeze_replicas(params.get("replicas"))

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.thaw_replicas(params.get("replicas"))
