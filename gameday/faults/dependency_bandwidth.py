"""dependency-bandwidth: the answers of one dependency are throttled to ``rate`` KB/s (Toxiproxy ``bandwidth``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gameday.faults.network import NetworkFault, NetworkParams


class DependencyBandwidth(NetworkFault):
    """A starved link: small answers barely notice it, large ones take their size / rate."""

    name = "dependency-bandwidth"
    description = "throttle what one dependency sends to the replicas to rate KB/s"
    toxic_type, stream = "bandwidth", "downstream"

    class Params(NetworkParams):
        rate: int = Field(10, ge=1, le=10_000_000, description="the most the dependency may send, in KB/s (1000 bytes)")

    def attributes(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"rate": params["rate"]}
