"""Steps of the runbook's Symptoms: what a person sees from outside while the service is down.

What a symptom is comes from :mod:`gameday.symptoms`; what to request comes from the profile
(``verify_settings.service``): its readiness path and its endpoints. No path is written here.
"""

from __future__ import annotations

from typing import Any

from pytest_bdd import then, when

from gameday import symptoms
from gameday.calls import Call, Client
from gameday.config import Settings
from gameday.targets.base import Target
from gameday.verify.measurements import LoadWindow
from steps.support import standalone_endpoints, wait_for

SYMPTOM_TIMEOUT_S = 15.0  # PostgreSQL's readiness grace (4 s) + the load balancer's detection (~1 s), with room
PROBE_TIMEOUT_S = 3.0  # longer than the load balancer's server timeout: a hang shows as its 504


@then("the service health check through the load balancer fails")
@when("the service health check through the load balancer fails")
def health_check_fails(service: Target, verify_settings: Settings, scenario_state: dict[str, Any]) -> None:
    """The readiness path through the load balancer stops answering as a healthy service does (waited for)."""
    path = verify_settings.service.service.readiness_path
    with Client(service.base_url(), PROBE_TIMEOUT_S) as client:
        call = wait_for(lambda: client.get(path, name="readiness"),
                        lambda c: symptoms.judge([c], [])[symptoms.HEALTH_FAILING], timeout=SYMPTOM_TIMEOUT_S)
    scenario_state["health"] = call
    assert symptoms.judge([call], [])[symptoms.HEALTH_FAILING], f"health check still passes: {call.describe()}"


@then("the load balancer answers 503 or 504")
def lb_503_504(service: Target, verify_settings: Settings) -> None:
    """The load balancer itself answers, with 503 (no server available) or 504 (server timed out)."""
    endpoint = standalone_endpoints(verify_settings.service)[0]
    seen: list[Call] = []
    with Client(service.base_url(), PROBE_TIMEOUT_S) as client:

        def probe() -> Call:
            seen.append(client.endpoint(endpoint))
            return seen[-1]

        call = wait_for(probe, lambda c: symptoms.judge([], [c])[symptoms.LB_5XX], timeout=SYMPTOM_TIMEOUT_S)
    assert symptoms.judge([], [call])[symptoms.LB_5XX], (
        "no 503/504 from the load balancer: " + "; ".join(c.describe() for c in seen[-3:]))


@then("every API endpoint answers with an error")
def every_endpoint_fails(service: Target, verify_settings: Settings) -> None:
    """Every API endpoint of the profile fails at the same time (a 5xx, or no answer)."""
    endpoints = standalone_endpoints(verify_settings.service)
    with Client(service.base_url(), PROBE_TIMEOUT_S) as client:

        def sweep() -> list[Call]:
            return [client.endpoint(e) for e in endpoints]

        calls = wait_for(sweep, lambda cs: symptoms.judge([], cs)[symptoms.ALL_FAILING], timeout=SYMPTOM_TIMEOUT_S)
    answering = [c.describe() for c in calls if not c.failed]
    assert symptoms.judge([], calls)[symptoms.ALL_FAILING], f"some endpoints still answer: {'; '.join(answering)}"


@then("zero requests succeed")
def zero_successes(scenario_state: dict[str, Any]) -> None:
    """The load window had requests, and every one of them failed."""
    load: LoadWindow = scenario_state["load"]
    assert load.requests > 0, "the load window made no request at all"
    assert load.successes == 0, f"{load.successes} of {load.requests} requests succeeded"
