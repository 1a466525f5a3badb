"""Steps shared by the features: a healthy service, faults (through the ledger), load windows."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, when

from gameday.targets.base import Target
from gameday.verify.faulting import kill_loop_params
from steps.support import FaultScope, RunMeasurements, wait_for

HEALTHY_TIMEOUT_S = 30.0


@given("the service is healthy")
def service_is_healthy(service: Target) -> None:
    """Every replica ready and the load balancer serving (waited for, bounded)."""
    assert service.wait_healthy(timeout=HEALTHY_TIMEOUT_S), (
        f"the service at {service.base_url()} is not healthy: "
        + ", ".join(f"{r.name} {r.phase}{'' if r.ready else ' not ready'}" for r in service.replicas())
    )


@when(parsers.parse('the dependency "{name}" is stopped'))
def dependency_stopped(fault: FaultScope, name: str) -> None:
    """stop-dependency, undone after the scenario."""
    fault.inject("stop-dependency", {"dependency": name})


@when("every replica is frozen")
def every_replica_frozen(fault: FaultScope) -> None:
    """freeze-replicas (all): they accept connections and never answer."""
    fault.inject("freeze-replicas", {})


@when(parsers.parse("every replica is killed and kept down for {seconds:d} seconds"))
def every_replica_killed(fault: FaultScope, service: Target, seconds: int) -> None:
    """kill-replicas, round after round in the background, so that they stay down; waits until none is ready."""
    fault.inject("kill-replicas", kill_loop_params(seconds), background=True)
    lb = wait_for(service.load_balancer, lambda lb: lb.ready_backends == 0, timeout=min(seconds, 10))
    assert lb.ready_backends == 0, f"{lb.ready_backends} endpoints still ready after killing every replica"


@when(parsers.parse("the service is under load for {seconds:d} seconds"))
def under_load_for(service: Target, run_measurements: RunMeasurements, scenario_state: dict[str, Any],
                   seconds: int) -> None:
    """A fixed, bounded locust window (a few users)."""
    scenario_state["load"] = run_measurements.measure(service, fixed_seconds=seconds)


@when("the service is under load until the error rate is decided")
@when("對服務施加負載直到錯誤率可判定")
def under_load_until_decided(service: Target, run_measurements: RunMeasurements,
                             scenario_state: dict[str, Any]) -> None:
    """A bounded locust window that ends once the Wilson bound decides (a recent healthy one is reused)."""
    scenario_state["load"] = run_measurements.window(service, exclude=scenario_state.get("baseline"))
