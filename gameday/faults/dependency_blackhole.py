"""dependency-blackhole: connections to one dependency are accepted and never answered (Toxiproxy ``timeout`` 0).

hang-dependency's failure on the network path (any dependency, external ones too) instead of on the dependency
itself: the same verdict (:class:`~gameday.faults.hang_dependency.Hangs`).
"""

from __future__ import annotations

from typing import Any

from gameday.faults.hang_dependency import Hangs
from gameday.faults.network import CutFault


class DependencyBlackhole(Hangs, CutFault):
    """A network path that silently drops packets: only timeouts find it (the runbook's "timeouts and 504")."""

    name = "dependency-blackhole"
    description = "accept every connection to one dependency and answer nothing (a silent packet drop)"
    toxic_type = "timeout"

    def attributes(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"timeout": 0}  # never closes: a blackhole
