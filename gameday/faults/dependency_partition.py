"""dependency-partition: the link to one dependency is cut: open connections closed, new ones refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gameday.faults.network import CutFault

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target


class DependencyPartition(CutFault):
    """A network partition (Toxiproxy's proxy ``enabled: false``): fails fast, like a stopped dependency, while
    the dependency itself runs on.

    On Kubernetes without a Toxiproxy proxy for the dependency it is a Chaos Mesh ``partition``, which drops the
    packets: the service's side sees the dependency hang, and that is the verdict it should get."""

    name = "dependency-partition"
    description = "cut the replicas off one dependency: connections refused, the dependency itself untouched"

    def hangs(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> bool:
        if target_kind != "kubernetes":
            return False
        toxiproxy = profile.kubernetes.toxiproxy if profile.kubernetes is not None else None
        return toxiproxy is None or params["dependency"] not in toxiproxy.proxies

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.set_dependency_link(params["dependency"], enabled=False)

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.set_dependency_link(params["dependency"], enabled=True)
