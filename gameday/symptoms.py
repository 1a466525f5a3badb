"""The runbook's Symptoms, judged over HTTP calls: one definition for the chaos probes, the prober and the steps.

The Service Outage runbook lists what a person sees from outside while the service is down: the load balancer
answers 5xx (503 "no server available", 504 "server timed out"), connections are refused, the health checks fail,
requests time out, every API endpoint fails and nothing succeeds. A dependency whose profile says
``on_outage: degraded`` must not cause that: while it is down, whatever does not need it still works ("degraded").

Everything here is a pure function of :class:`gameday.calls.Call` results (and of the profile), so the same words
mean the same thing wherever a symptom is judged. Polling and sending are the callers' business. Which symptoms
an outage must show is the runbook's to say (its manifest's ``symptoms``, read as ``Runbook.symptoms``); this
module defines what each name means.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gameday.calls import Call
from gameday.profile import Endpoint, Journey, Profile

HEALTH_FAILING = "health check failing"
LB_5XX = "load balancer 503/504"
REFUSED = "connections refused"
TIMEOUTS = "timeouts"
ALL_FAILING = "all API endpoints failing"
ZERO_SUCCESS = "zero successful requests"

ALL = (HEALTH_FAILING, LB_5XX, REFUSED, TIMEOUTS, ALL_FAILING, ZERO_SUCCESS)  # every symptom judged here
LB_CODES = (503, 504)
ZERO_SUCCESS_STRETCH_S = 1.0  # over time: at least this long without any successful probe


def refused(call: Call) -> bool:
    """No answer because nothing accepted the connection."""
    return call.status is None and "refused" in call.error.lower()


def timed_out(call: Call) -> bool:
    """The answer did not come in time: our own timeout, or the load balancer's 504."""
    return call.status == 504 or (call.status is None and "timed out" in call.error.lower())


def judge(health: Sequence[Call], api: Sequence[Call]) -> dict[str, bool]:
    """Which symptoms one sample shows: health-path calls and API calls made at about the same time."""
    calls = [*health, *api]
    return {
        HEALTH_FAILING: bool(health) and not any(c.ok for c in health),
        LB_5XX: any(c.status in LB_CODES for c in calls),
        REFUSED: any(refused(c) for c in calls),
        TIMEOUTS: any(timed_out(c) for c in calls),
        ALL_FAILING: bool(api) and all(c.failed for c in api),
        ZERO_SUCCESS: bool(calls) and not any(c.success for c in calls),
    }


def missing(seen: dict[str, bool], wanted: Iterable[str]) -> list[str]:
    """The wanted symptoms (e.g. the runbook's) not seen."""
    return [name for name in wanted if not seen.get(name)]


# --- over time: what the game day's prober saw ---------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """One probe: when it was sent (unix time) and what it got."""

    at: float
    call: Call
    health: bool = False  # a probe of the health path (not an API endpoint)

    @property
    def path(self) -> str:
        """What was probed (the endpoint's name: one series per endpoint)."""
        return self.call.name

    @property
    def status(self) -> int | None:
        """The HTTP status, None without an answer."""
        return self.call.status

    @property
    def ok(self) -> bool:
        """The answer a healthy service gives, in time."""
        return self.call.ok

    @property
    def latency_s(self) -> float:
        """How long it took (at most the probe's timeout)."""
        return self.call.elapsed_ms / 1000

    @property
    def done(self) -> float:
        """When the answer (or the timeout) came: what a user saw then."""
        return self.at + self.latency_s


def over_window(observations: Sequence[Observation], start: float, end: float) -> dict[str, bool]:
    """Which symptoms the probes saw in ``[start, end]``.

    "All API endpoints failing" needs every probed endpoint to have failed, and "zero successful requests" a
    stretch of :data:`ZERO_SUCCESS_STRETCH_S` without any success: one unlucky probe is neither.
    """
    window = sorted((o for o in observations if start <= o.at <= end), key=lambda o: o.at)
    health = [o.call for o in window if o.health]
    api = [o for o in window if not o.health]
    calls = [o.call for o in window]
    names = {o.path for o in api}
    return {
        HEALTH_FAILING: any(not c.ok for c in health),
        LB_5XX: any(c.status in LB_CODES for c in calls),
        REFUSED: any(refused(c) for c in calls),
        TIMEOUTS: any(timed_out(c) for c in calls),
        ALL_FAILING: bool(names) and names == {o.path for o in api if o.call.failed},
        ZERO_SUCCESS: _zero_success_stretch(window),
    }


def _zero_success_stretch(window: Sequence[Observation]) -> bool:
    start: float | None = None
    for obs in window:
        if obs.call.success:
            start = None
            continue
        start = obs.at if start is None else start
        if obs.at - start >= ZERO_SUCCESS_STRETCH_S:
            return True
    return False


# --- degraded: what still works while a dependency is down ------------------------------------------------------
def unaffected(profile: Profile, dependency: str) -> tuple[list[Endpoint], list[Journey]]:
    """The endpoints and journeys that do not need ``dependency``: they must keep working while it is down."""
    profile.dependency(dependency)  # UsageError naming the known ones
    endpoints = [e for e in profile.endpoints if dependency not in profile.needs(e)]
    journeys = [j for j in profile.journeys if dependency not in profile.needs(j)]
    return endpoints, journeys


@dataclass(frozen=True)
class Degraded:
    """One sample while a dependency is down: serving (readiness and every unaffected call ok), or not."""

    dependency: str
    readiness: Call
    calls: tuple[Call, ...]  # unaffected endpoints and journey steps

    @property
    def serving(self) -> bool:
        """The service still answers its readiness check and everything that does not need the dependency."""
        return self.readiness.success and all(c.ok for c in self.calls)

    def not_ok(self) -> list[str]:
        """What did not work, one short line each."""
        bad = [] if self.readiness.success else [self.readiness.describe()]
        return bad + [c.describe() for c in self.calls if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (the readiness body included: services often say what they miss)."""
        return {"dependency": self.dependency, "serving": self.serving,
                "readiness": {**self.readiness.to_dict(), "body": self.readiness.body},
                "calls": [c.to_dict() for c in self.calls]}
