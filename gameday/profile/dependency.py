"""What the service needs, what it does without each dependency, and what it promises about each."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from gameday.dependencies import KINDS
from gameday.profile.base import Name, OnOutage, StrictModel
from gameday.profile.traffic import ExpectField

# how long the runbook's step-3 check waits for a new connection's answer before calling the dependency hung, unless
# the profile says otherwise (``check_timeout_s``)
CHECK_TIMEOUT_S = 2.0


class Breaker(StrictModel):
    """A circuit breaker's promise: once the dependency times out, requests needing it fail fast."""

    opens_within_s: float = Field(gt=0, le=300, description="seconds from the first timeout until it is open")
    fail_fast_ms: float = Field(gt=0, le=60_000, description="p95 of the failures once it is open")


class Fallback(StrictModel):
    """The answer an endpoint that needs a ``degraded`` dependency gives while the dependency is unreachable."""

    endpoint: Name = Field(description="one of the profile's endpoints")
    expect: ExpectField = Field(description="its answer then, in the shape endpoints use (status, json)")


class Promises(StrictModel):
    """What the service promises about one dependency (the runbook's Prevention: timeouts, circuit breakers,
    retries, fallback); what it does not promise is reported as a finding, never checked as a pass."""

    timeout_ms: float | None = Field(None, gt=0, le=600_000, description="its timeout for one call to the dependency")
    breaker: Breaker | None = Field(None, description="a circuit breaker guards it (needs timeout_ms)")
    retries: bool = Field(False, description="a call that meets a reset connection is retried")
    fallback: Fallback | None = Field(None, description="the degraded answer (needs on_outage: degraded)")

    @model_validator(mode="after")
    def _breaker_needs_timeout(self) -> Promises:
        if self.breaker is not None and self.timeout_ms is None:
            raise ValueError("breaker: needs timeout_ms (a breaker opens on the timeouts)")
        return self


class Dependency(StrictModel):
    """Something the service needs, and what the service does without it."""

    name: Name = Field(description="the dependency's name, used in placeholders, faults and verdicts")
    kind: str = Field(description=f"one of: {', '.join(sorted(KINDS))}")
    on_outage: OnOutage = Field(
        "outage", description="outage: the service cannot serve without it; degraded: it keeps serving, degraded")
    address: str | None = Field(
        None, description="host:port of an external dependency; absent: the local target provides it")
    health_path: str = Field("/", description="http dependencies: the path that answers 2xx when healthy")
    owned: bool = Field(
        False, description="kubernetes: the team's own dependency, which stop-dependency may scale to zero; "
        "default: its outage is cut at the service's side (egress denied), the dependency itself untouched")
    promises: Promises | None = Field(
        None, description="its timeout, breaker, retries and fallback, as the service promises them")
    check_timeout_s: float = Field(
        CHECK_TIMEOUT_S, gt=0, le=60,
        description="how long the runbook's step-3 check (a new connection: pg_isready, PING, ApiVersions) waits for "
        "an answer before the dependency counts as hung; a managed database far away or a slow TLS handshake needs "
        "more, and every diagnosis of a hang waits this long")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown dependency kind {value!r}: expected one of {', '.join(sorted(KINDS))}")
        return value

    @field_validator("address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port, got {value!r}")
        return value

    @property
    def provided(self) -> bool:
        """Whether the local target runs it (and so can stop, start and hang it)."""
        return self.address is None

