"""Steps of the runbook's Detection: the APIEndpointDown condition, the operations view, the log patterns."""

from __future__ import annotations

import time
from typing import Any

from pytest_bdd import parsers, then, when

from gameday.calls import Client
from gameday.config import Settings
from gameday.targets.base import Target
from gameday.verify.detection import Probe, api_endpoint_down, match_log_patterns
from steps.support import standalone_endpoints, wait_for

PROBE_TIMEOUT_S = 1.0
MAX_PROBES = 200
LOG_TIMEOUT_S = 10.0


@when(parsers.parse("the API is probed every {interval:g} seconds for {seconds:g} seconds"))
def probe_api(service: Target, verify_settings: Settings, scenario_state: dict[str, Any], interval: float,
              seconds: float) -> None:
    """Probe the profile's first detection endpoint (that needs no captured value) like a blackbox exporter:
    a 5xx, a refused connection or a timeout fails."""
    profile = verify_settings.service
    endpoint = next((e for e in profile.probe_endpoints() if not e.placeholder_names()),
                    standalone_endpoints(profile)[0])
    probes: list[Probe] = []
    first = None
    with Client(service.base_url(), PROBE_TIMEOUT_S) as client:
        while len(probes) < MAX_PROBES:
            started = time.time()
            call = client.endpoint(endpoint)
            first = first if first is not None else started
            probes.append(Probe(started, not call.failed, call.describe()))
            if started - first >= seconds:
                break
            time.sleep(max(0.0, interval - (time.time() - started)))  # poll: the probe interval
    scenario_state["probes"] = probes


@then(parsers.parse("the API has been down for at least {seconds:g} seconds"))
def api_down(scenario_state: dict[str, Any], seconds: float) -> None:
    """The APIEndpointDown-style condition holds over the probes."""
    condition = api_endpoint_down(scenario_state["probes"], sustained_s=seconds)
    assert condition.holds, f"APIEndpointDown does not hold: {condition.explanation}"


@then("the API has not been down")
def api_not_down(scenario_state: dict[str, Any]) -> None:
    """The condition does not hold on a healthy service."""
    condition = api_endpoint_down(scenario_state["probes"], sustained_s=1.0)
    assert not condition.holds, f"APIEndpointDown holds on a healthy service: {condition.explanation}"


@then("the load balancer shows no ready endpoint")
def lb_no_ready_endpoint(service: Target) -> None:
    """The operations view (like kubectl get endpoints / the dashboard) shows the service stopped."""
    lb = wait_for(service.load_balancer, lambda lb: lb.ready_backends == 0, timeout=5)
    assert lb.ready_backends == 0, f"{lb.ready_backends}/{lb.total_backends} endpoints ready"


@then("no replica is shown ready")
def no_replica_ready(service: Target) -> None:
    """No replica is ready (like kubectl get pods)."""
    replicas = wait_for(service.replicas, lambda rs: not any(r.ready for r in rs), timeout=5)
    ready = [r.name for r in replicas if r.ready]
    assert not ready, f"replicas still ready: {', '.join(ready)}"


@then(parsers.parse('the service logs show "{pattern}"'))
def logs_show(service: Target, pattern: str) -> None:
    """The deployment's logs contain the pattern (case-insensitive), waited for, bounded."""
    found = wait_for(lambda: match_log_patterns(service.logs(tail=300), [pattern]), lambda m: m.found(pattern),
                     timeout=LOG_TIMEOUT_S, interval=0.5)
    assert found.found(pattern), f"no log line matches {pattern!r} in the last 300 lines"
