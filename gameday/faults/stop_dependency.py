"""stop-dependency: a dependency of the profile stopped (process stopped / scaled to zero), or, on a cluster where
it is not the team's own, cut off at the service's side (egress denied)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gameday.faults.base import DependencyFault

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target


class StopDependency(DependencyFault):
    """Fails fast: connections are refused. Outage or degraded as the profile's ``on_outage`` says.

    On Kubernetes a dependency that is not the team's own (``owned``) is never stopped: a NetworkPolicy denies the
    service's egress to it, and a real network plugin (Calico, Cilium, kindnet) drops what a policy denies, so the
    service's side sees it hang, and that is the verdict it should get."""

    name = "stop-dependency"
    description = "stop one of the service's dependencies (e.g. PostgreSQL, Redis, Kafka)"

    def hangs(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> bool:
        return target_kind == "kubernetes" and not profile.dependency(params["dependency"]).owned

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.stop_dependency(params["dependency"])

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.start_dependency(params["dependency"], wait=True)
