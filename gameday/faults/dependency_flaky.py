"""dependency-flaky: a fraction of the connections to one dependency are reset (Toxiproxy ``reset_peer``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gameday.faults.network import NetworkFault, NetworkParams


class DependencyFlaky(NetworkFault):
    """Intermittent failures: each connection is reset (TCP RST) on its next data with probability ``fraction``."""

    name = "dependency-flaky"
    description = "reset a fraction of the connections to one dependency (connection reset by peer)"
    toxic_type = "reset_peer"

    class Params(NetworkParams):
        fraction: float = Field(0.1, gt=0.0, le=1.0, description="the share of connections reset (0 < fraction <= 1)")

    def toxicity(self, params: dict[str, Any]) -> float:
        return params["fraction"]

    def attributes(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"timeout": 0}  # reset at once
