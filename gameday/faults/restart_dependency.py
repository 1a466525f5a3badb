"""restart-dependency: a dependency restarted (a failover): every open connection drops, the service must reconnect.

The dependency is stopped and started again at once (on the local target supervisord restarts the process: every
session is cut; on Kubernetes its workload is scaled to zero and back: a new pod). Nothing is left broken when the
inject returns: what the experiment measures is that the service reconnects by itself, with no one acting, within
the profile's ``recover_within_s`` (its pools thrown away and made anew), and that the diagnosis then finds nothing
wrong. Undo starts it again, whatever state it is in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from gameday.faults.base import DependencyFault, DependencyParams, Params
from gameday.verdict_keys import NO_OUTAGE

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target


class RestartParams(DependencyParams):
    dependency: str = Field("postgres", description="a dependency of the service profile (e.g. postgres)")
    timeout_s: float = Field(60.0, gt=0, le=600, description="how long it may take to listen again")


class RestartDependency(DependencyFault):
    """Connections dropped once; the service recovers by itself: no outage is left to diagnose."""

    name = "restart-dependency"
    description = "restart one of the service's dependencies (a failover: every open connection drops)"
    Params: ClassVar[type[Params]] = RestartParams

    def outage(self, params: dict[str, Any], profile: Profile, replicas: list[str] | None = None) -> bool:
        return False

    def expected_verdict(self, params: dict[str, Any], profile: Profile, target_kind: str | None = None) -> str:
        return NO_OUTAGE

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.stop_dependency(params["dependency"])
        target.start_dependency(params["dependency"], wait=True, timeout=params["timeout_s"])

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        given = RestartParams.model_validate(params)  # a ledger entry written by hand may leave the defaults out
        target.start_dependency(given.dependency, wait=True, timeout=given.timeout_s)
