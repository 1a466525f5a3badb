"""Steps of the runbook's Verification checklist, in English and in the runbook's own words (zh-TW).

Each Then runs one checklist item (gameday.verify.checklist) and fails with the verdict's line, which
names the item and its measured numbers.
"""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, then

from gameday.calls import Client
from gameday.config import Settings
from gameday.targets.base import Target
from gameday.verify.checklist import check_item
from gameday.verify.measurements import Measurements
from steps.support import RunMeasurements


def _judge(item: str, service: Target, settings: Settings, record_verdict: Any,
           measurements: Measurements | None = None) -> None:
    verdict = record_verdict(check_item(item, service, measurements, settings))
    assert verdict.passed, f"runbook verification item [{item}] {verdict.line()}"


@given("the service under verification")
@given("服務已部署於目標環境")
def service_under_verification(service: Target) -> None:
    """The target is there to be verified."""
    service.reachable()


@given("its load balancer answers")
@given("load balancer 有回應")
def load_balancer_answers(service: Target, verify_settings: Settings) -> None:
    """The load balancer answers HTTP at all (any status), on the profile's health path."""
    with Client(service.base_url(), 3.0) as client:
        call = client.get(verify_settings.service.service.health_path)
    assert call.status is not None, f"the load balancer does not answer: {call.describe()}"


@given("a baseline response time measured before any fault")
@given("已在任何故障注入前量測基準回應時間")
def baseline_measured(service: Target, run_measurements: RunMeasurements, scenario_state: dict[str, Any]) -> None:
    """The run's baseline window (measured now if this run has none yet and no fault is active)."""
    scenario_state["baseline"] = run_measurements.baseline_window(service)


@then("all pods are running")
@then("所有 pods 都在執行")
def all_pods_running(service: Target, verify_settings: Settings, record_verdict: Any) -> None:
    """Checklist item 1."""
    _judge("pods-running", service, verify_settings, record_verdict)


@then("the health checks pass")
@then("Health checks 通過")
def health_checks_pass(service: Target, verify_settings: Settings, record_verdict: Any) -> None:
    """Checklist item 2."""
    _judge("health-checks", service, verify_settings, record_verdict)


@then("the API endpoints answer normally")
@then("API endpoints 正常回應")
def api_endpoints_answer(service: Target, verify_settings: Settings, record_verdict: Any) -> None:
    """Checklist item 3."""
    _judge("api-endpoints", service, verify_settings, record_verdict)


@then("the smoke tests pass")
@then("Smoke tests 通過")
def smoke_tests_pass(service: Target, verify_settings: Settings, record_verdict: Any) -> None:
    """Checklist item 4."""
    _judge("smoke-tests", service, verify_settings, record_verdict)


@then("the error rate is below 1%")
@then("錯誤率 < 1%")
def error_rate_below(service: Target, verify_settings: Settings, record_verdict: Any,
                     scenario_state: dict[str, Any]) -> None:
    """Checklist item 5, on the scenario's load window."""
    _judge("error-rate", service, verify_settings, record_verdict, Measurements(load=scenario_state["load"]))


@then("the response time is normal")
@then("回應時間正常")
def response_time_normal(service: Target, verify_settings: Settings, record_verdict: Any,
                         scenario_state: dict[str, Any]) -> None:
    """Checklist item 6, on the scenario's load window against the run's baseline."""
    m = Measurements(load=scenario_state["load"], baseline=scenario_state.get("baseline"))
    _judge("response-time", service, verify_settings, record_verdict, m)
