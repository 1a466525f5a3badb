"""dependency-blackhole: connections to one dependency are accepted and never answered (Toxiproxy ``timeout`` 0)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gameday.faults.network import CutFault

if TYPE_CHECKING:
    from gameday.profile import Profile


class DependencyBlackhole(CutFault):
    """A network path that silently drops packets: only timeouts find it (the runbook's "timeouts and 504")."""

    name = "dependency-blackhole"
    description = "accept every connection to one dependency and answer nothing (a silent packet drop)"

    def expected_verdict(self, params: dict[str, Any], profile: Profile) -> str:
        from gameday.diagnose.rules import dependency_verdict

        return dependency_verdict(profile, params["dependency"], hung=True)

    def toxic(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"type": "timeout", "stream": "upstream", "toxicity": 1.0, "attributes": {"timeout": 0}}
