"""dependency-partition: the link to one dependency is cut: open connections closed, new ones refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gameday.faults.network import CutFault

if TYPE_CHECKING:
    from gameday.targets.base import Target


class DependencyPartition(CutFault):
    """A network partition (Toxiproxy's proxy ``enabled: false``): fails fast, like a stopped dependency, while
    the dependency itself runs on."""

    name = "dependency-partition"
    description = "cut the replicas off one dependency: connections refused, the dependency itself untouched"

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.set_dependency_link(params["dependency"], enabled=False)

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.set_dependency_link(params["dependency"], enabled=True)
