"""The probes judge what they claim: the steady state holds on a healthy service, and the symptoms do not."""

from __future__ import annotations

from typing import Any

import pytest

from gameday.chaos import actions, probes
from gameday.context import RunContext
from gameday.errors import UsageError

pytestmark = pytest.mark.slow


def test_the_steady_state_probes_pass_on_a_healthy_service(healthy: Any) -> None:
    probes.reset_run_state()
    assert probes.health_checks_pass()["ok"]
    smoke = probes.smoke_endpoints_answer()
    assert smoke["ok"] and smoke["failed"] == []
    assert len(smoke["results"]) == 2 + 5  # every journey of the profile, then every endpoint
    assert "order_id" in probes._RUN["values"]  # the setup journey's captures, for the symptoms' order lookup
    load = probes.load_within_slo()  # the profile's own load until < 1% is shown at 95%: >= 381 answers
    assert load["ok"] and load["verdict"] == "pass" and load["requests"] >= 381 and load["failures"] == 0
    assert load["not_sent"] == 0 and load["duration_s"] < load["window_s"]
    assert load["latency_verdict"]["status"] == "pass"
    assert probes.no_faults_from_other_runs() == {"ok": True, "entries": []}


def test_a_latency_above_the_baseline_twice_is_not_a_steady_state(healthy: Any, settings: Any) -> None:
    """A baseline no real request can meet (0.01 ms, no slack): both bursts are slow, the second one judges."""
    strict = settings.model_copy(update={"slo": settings.slo.model_copy(update={"baseline_slack_ms": 0.0})})
    probes.reset_run_state()
    probes._RUN["baseline_p95_ms"] = 0.01
    try:
        load = probes.load_within_slo(configuration=RunContext.from_settings(strict).configuration())
    finally:
        probes.reset_run_state()
    assert not load["ok"] and load["errors_ok"] and load["failures"] == 0
    assert load["reason"].startswith("latency: ") and "baseline" in load["reason"]
    assert load["first_burst"]["latency_verdict"]["status"] == "fail" and load["first_burst"]["p95_ms"] > 0


def test_the_symptom_probes_fail_when_the_service_is_healthy(healthy: Any) -> None:
    with pytest.raises(probes.ProbeFailed, match=r"symptoms not observed within 1s: missing health check failing"):
        probes.outage_symptoms_observed(within_s=1)
    with pytest.raises(probes.ProbeFailed, match=r"no journey captured what order-lookup needs during the outage"):
        probes.events_delivered("order-lookup", "$.event_published", within_s=1)
    with pytest.raises(probes.ProbeFailed, match="diagnosis does not match: postgres still answers"):
        probes.check_dependencies(expect_down=["postgres"])


def test_a_frozen_replica_fails_the_health_checks(healthy: Any) -> None:
    healthy.freeze_replicas([healthy.replica_names[0]])
    try:
        result = probes.health_checks_pass()
    finally:
        healthy.thaw_replicas()
    assert not result["ok"]
    assert result["replicas"][0]["ready"] is False


def test_resolutions_without_their_fault_are_one_line(healthy: Any) -> None:
    with pytest.raises(UsageError, match="no previous configuration recorded by this run"):
        actions.restore_previous_config()
    with pytest.raises(UsageError, match="unknown dependency 'mysql'"):
        actions.start_dependency("mysql")
    assert actions.undo_faults() == []  # nothing of this process in the ledger: nothing to undo


def test_the_degraded_probe_sees_what_keeps_working_while_redis_is_down(healthy: Any) -> None:
    probes.reset_run_state()
    probes.smoke_endpoints_answer()
    healthy.stop_dependency("redis")
    try:
        result = probes.degraded_but_serving("redis", within_s=20, repeats=1)
    finally:
        healthy.start_dependency("redis", wait=True)
    assert result["unaffected"]["journeys"] == ["place-order"] and "cart" not in result["unaffected"]["endpoints"]
    assert result["journeys_completed"] == 1 and result["sample"]["serving"]
    assert probes.events_delivered("order-lookup", "$.event_published", within_s=20)["followed"] == 1


def test_every_replica_frozen_shows_the_outage_symptoms(healthy: Any) -> None:
    probes.reset_run_state()
    probes.smoke_endpoints_answer()
    healthy.freeze_replicas()
    try:
        result = probes.outage_symptoms_observed(within_s=20, expect_codes=[503])
    finally:
        healthy.thaw_replicas()
    assert set(result["observed"]) >= {"health check failing", "load balancer 503/504", "all API endpoints failing",
                                       "zero successful requests"}



@pytest.mark.slow
def test_recovery_is_not_proven_while_a_survivable_dependency_still_fails_the_calls_that_need_it(healthy: Any) -> None:
    """Redis pausing its writes (``CLIENT PAUSE ... WRITE``, by hand): it answers PING, every replica stays ready and
    every health check passes, yet adding to a cart fails. Not recovered until the smoke endpoints answer again."""
    import time

    import redis

    from gameday.chaos.actions import RecoveryFailed

    pause_s = 6.0
    client = redis.Redis(host="127.0.0.1", port=healthy.port("redis"))
    client.execute_command("CLIENT", "PAUSE", int(pause_s * 1000), "WRITE")
    began = time.monotonic()
    try:
        assert probes.health_checks_pass()["ok"]  # what the probes alone say: healthy
        with pytest.raises(RecoveryFailed, match="add-to-cart"):
            actions.wait_until_healthy(timeout=2)
        assert time.monotonic() - began < pause_s, "the pause ended before the check: it proved nothing"
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
        client.close()
    assert actions.wait_until_healthy(timeout=30)["healthy"]
