"""Steps of the runbook's Symptoms: what a person sees from outside while the service is down."""

from __future__ import annotations

from typing import Any

from pytest_bdd import then, when

from gameday.targets.base import Target
from gameday.verify.measurements import LoadWindow
from gameday.verify.service import Call, ServiceClient
from steps.support import wait_for

SYMPTOM_TIMEOUT_S = 15.0  # PostgreSQL's readiness grace (4 s) + the load balancer's detection (~1 s), with room
PROBE_TIMEOUT_S = 3.0


def _endpoints() -> list[tuple[str, str, Any]]:
    return [
        ("GET", "/api/products", None),
        ("GET", "/api/products/1", None),
        ("GET", "/api/cart/symptom-probe", None),
        ("POST", "/api/cart/symptom-probe/items", {"product_id": 1, "quantity": 1}),
        ("POST", "/api/orders", {"customer": "symptom-probe", "items": [{"product_id": 1, "quantity": 1}]}),
    ]


@then("the service health check through the load balancer fails")
@when("the service health check through the load balancer fails")
def health_check_fails(service: Target, scenario_state: dict[str, Any]) -> None:
    """/readyz through the load balancer stops answering 200 (waited for, bounded)."""
    with ServiceClient(service.base_url(), PROBE_TIMEOUT_S) as client:
        call = wait_for(lambda: client.get("/readyz"), lambda c: not c.ok, timeout=SYMPTOM_TIMEOUT_S)
    scenario_state["health"] = call
    assert not call.ok, f"health check still passes: {call.describe()}"


@then("the load balancer answers 503 or 504")
def lb_503_504(service: Target) -> None:
    """The load balancer itself answers, with 503 (no server available) or 504 (server timed out)."""
    seen: list[Call] = []
    with ServiceClient(service.base_url(), PROBE_TIMEOUT_S) as client:

        def probe() -> Call:
            seen.append(client.get("/api/products"))
            return seen[-1]

        call = wait_for(probe, lambda c: c.status in (503, 504), timeout=SYMPTOM_TIMEOUT_S)
    assert call.status in (503, 504), "no 503/504 from the load balancer: " + "; ".join(c.describe() for c in seen[-3:])


@then("every API endpoint answers with an error")
def every_endpoint_fails(service: Target) -> None:
    """Every API endpoint fails at the same time (an error status, or no answer)."""
    with ServiceClient(service.base_url(), PROBE_TIMEOUT_S) as client:

        def sweep() -> list[Call]:
            return [client.call(method, path, json=body) for method, path, body in _endpoints()]

        calls = wait_for(sweep, lambda cs: not any(c.ok for c in cs), timeout=SYMPTOM_TIMEOUT_S)
    ok = [c.describe() for c in calls if c.ok]
    assert not ok, f"some endpoints still answer: {'; '.join(ok)}"


@then("zero requests succeed")
def zero_successes(scenario_state: dict[str, Any]) -> None:
    """The load window had requests, and every one of them failed."""
    load: LoadWindow = scenario_state["load"]
    assert load.requests > 0, "the load window made no request at all"
    assert load.successes == 0, f"{load.successes} of {load.requests} requests succeeded"
