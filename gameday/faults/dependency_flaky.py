"""dependency-flaky: a fraction of the connections to one dependency are reset (Toxiproxy ``reset_peer``)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from gameday.faults.base import Params
from gameday.faults.network import NetworkFault, NetworkParams


class FlakyParams(NetworkParams):
    fraction: float = Field(0.1, gt=0.0, le=1.0, description="the share of connections reset (0 < fraction <= 1)")


class DependencyFlaky(NetworkFault):
    """Intermittent failures: each connection is reset (TCP RST) on its next data with probability ``fraction``."""

    name = "dependency-flaky"
    description = "reset a fraction of the connections to one dependency (connection reset by peer)"
    Params: ClassVar[type[Params]] = FlakyParams

    def toxic(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"type": "reset_peer", "stream": "upstream", "toxicity": params["fraction"],
                "attributes": {"timeout": 0}}
