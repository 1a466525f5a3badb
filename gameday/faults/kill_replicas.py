"""kill-replicas: every replica (or the named ones) killed with SIGKILL, ``rounds`` times (all pods down).

A replica is its pod: the processes the profile declares beside it (a worker, ``local.processes``) die with it,
as a pod's containers do, and supervisor restarts them as it restarts the replica."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from gameday import interrupts
from gameday.faults.base import ReplicaFault, ReplicaParams
from gameday.profile import Local
from gameday.verdict_keys import ALL_REPLICAS_DOWN

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target


def crash_loop_seconds(profile: Profile) -> float:
    """How long kill-replicas must go on for the local supervisor to give up on every replica (FATAL, the local
    CrashLoopBackOff): its back-offs between restarts, 1 + 2 + ... + ``local.start_retries`` s, plus ~1.5 s for
    the starts it kills and its own loop's lag. A shorter burst is a restart blip the alert's ``for:`` rides out,
    and a replica still backing off after the last kill comes back by itself. Measured with 3 retries: FATAL ~7 s
    after the first kill; the profile's default is 2 (~3.5 s), so the game day's 16 rounds (7.5 s) leave room."""
    retries = profile.local.start_retries if profile.local else Local.model_fields["start_retries"].default
    return retries * (retries + 1) / 2 + 1.5


class KillParams(ReplicaParams):
    """Which replicas, how many times, how far apart."""

    rounds: int = Field(1, ge=1, le=100, description="how many times to kill them (default 1, at most 100)")
    interval: float = Field(0.5, ge=0, le=10, description="seconds between rounds (default 0.5, at most 10)")


class KillReplicas(ReplicaFault):
    """Killed abruptly and repeatedly: the supervisor's restarts turn into a crash loop."""

    name = "kill-replicas"
    description = "kill replicas abruptly, repeatedly (all pods down)"
    Params: ClassVar[type[KillParams]] = KillParams

    def expected_verdict(self, params: dict[str, Any], profile: Profile, target_kind: str | None = None) -> str:
        return ALL_REPLICAS_DOWN

    def pages(self, params: dict[str, Any], profile: Profile, replicas: list[str] | None = None) -> bool:
        """Only when the kills go on long enough for the supervisor to give up restarting them
        (:func:`crash_loop_seconds`): a shorter burst is a restart blip the alert's ``for:`` rides out."""
        outage = self.outage(params, profile, replicas)
        return outage and (params["rounds"] - 1) * params["interval"] >= crash_loop_seconds(profile)

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        for i in range(params["rounds"]):
            target.terminate_replicas(params.get("replicas"))
            if i + 1 < params["rounds"]:
                interrupts.pause(params["interval"])  # the fault's cadence; a Ctrl-C stops it here at the latest

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.start_replicas(params.get("replicas"))
        if not target.wait_healthy():  # the target's own start budget (local: measured at up)
            target.rollout_restart(wait=True)
