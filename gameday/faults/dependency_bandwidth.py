"""dependency-bandwidth: the answers of one dependency are throttled to ``rate`` KB/s (Toxiproxy ``bandwidth``)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from gameday.faults.base import Params
from gameday.faults.network import NetworkFault, NetworkParams


class BandwidthParams(NetworkParams):
    rate: int = Field(10, ge=1, le=10_000_000, description="the most the dependency may send, in KB/s (1000 bytes)")


class DependencyBandwidth(NetworkFault):
    """A starved link: small answers barely notice it, large ones take their size / rate."""

    name = "dependency-bandwidth"
    description = "throttle what one dependency sends to the replicas to rate KB/s"
    Params: ClassVar[type[Params]] = BandwidthParams

    def toxic(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"type": "bandwidth", "stream": "downstream", "toxicity": 1.0, "attributes": {"rate": params["rate"]}}
