"""dependency-latency: every answer of one dependency arrives ``ms`` (± ``jitter``) late (Toxiproxy ``latency``)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from gameday.faults.network import NetworkFault, NetworkParams


class DependencyLatency(NetworkFault):
    """A slow dependency: the service keeps serving, slower, as long as its timeouts are longer than the delay."""

    name = "dependency-latency"
    description = "delay every answer of one dependency (ms, jitter) on the replicas' connections"
    toxic_type, stream = "latency", "downstream"

    class Params(NetworkParams):
        ms: int = Field(1000, ge=1, le=600_000, description="added delay per answer, in milliseconds")
        jitter: int = Field(0, ge=0, le=600_000, description="random variation of the delay (±), in milliseconds")

        @model_validator(mode="after")
        def _jitter_within_delay(self) -> Self:
            if self.jitter > self.ms:
                raise ValueError(f"jitter ({self.jitter} ms) must not exceed ms ({self.ms} ms)")
            return self

    def attributes(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"latency": params["ms"], "jitter": params.get("jitter", 0)}
