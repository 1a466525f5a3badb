"""Which dependencies a service has, and whether their loss is an outage, come from its profile only.

Two services: the reference ecommerce-backend (PostgreSQL critical; Redis and Kafka degraded) and a small
ticket-office-like one (PostgreSQL and Redis both critical, no Kafka). The same Redis outage is a degraded
dependency for the first, a dependency failure that pages for the second.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gameday.diagnose import diagnose, load_runbook
from gameday.diagnose.evidence import Evidence
from gameday.diagnose.rules import DEPENDENCY_DEGRADED, DEPENDENCY_FAILURE, decide, dependency_verdict
from gameday.errors import UsageError
from gameday.faults import expected_to_fire, get_fault
from gameday.profile import Profile
from gameday.targets.model import DependencyCheck, Endpoint, LoadBalancer, Replica, Revision
from tests.diagnose_fakes import PROFILE as ECOMMERCE
from tests.diagnose_fakes import FakeTarget

NOW = 1_800_000_000.0
NAMES = ("replica-0", "replica-1")
RUNBOOK = load_runbook()


def profile(dependencies: list[dict], name: str = "ticket-office") -> Profile:
    """A small profile of a service that is not the reference one."""
    return Profile.model_validate({
        "service": {"name": name, "health_path": "/_status/live", "readiness_path": "/_status/ready"},
        "dependencies": dependencies,
        "endpoints": [{"name": "events", "path": "/v2/events"}],
        "alerts": {"endpoint_down": "TicketOfficeDown"},
    })


TICKETS = profile([{"name": "postgres", "kind": "postgres"}, {"name": "redis", "kind": "redis"}])


def evidence(prof: Profile, failing: dict[str, str], serving: bool = True) -> Evidence:
    """The evidence of a target running ``prof``'s service: the ``failing`` checks fail (name -> detail)."""
    ev = Evidence(
        target="test",
        collected_at=NOW,
        replicas=[Replica(n, "Running", serving, 0, 1, "1.0.0") for n in NAMES],
        endpoints=[Endpoint(n, f"127.0.0.1:{9000 + i}", serving, "UP" if serving else "DOWN")
                   for i, n in enumerate(NAMES)],
        load_balancer=LoadBalancer("lb", "http://127.0.0.1:8080", "up", len(NAMES) if serving else 0, len(NAMES)),
        history=[Revision(1, "1.0.0", "initial deploy", NOW - 3600)],
        dependencies=[DependencyCheck(d.name, d.name not in failing, 0.01, failing.get(d.name, "ok"))
                      for d in prof.dependencies],
    )
    return ev


def test_the_verdict_of_a_lost_dependency_follows_its_on_outage():
    assert dependency_verdict(ECOMMERCE, "postgres") == "dependency-failure:postgres"
    assert dependency_verdict(ECOMMERCE, "redis") == "dependency-degraded:redis"
    assert dependency_verdict(TICKETS, "redis") == "dependency-failure:redis"
    with pytest.raises(UsageError, match="unknown dependency 'kafka' for ticket-office: expected one of postgres"):
        dependency_verdict(TICKETS, "kafka")


def test_redis_down_is_a_failure_for_the_service_that_cannot_live_without_it():
    verdict = decide(evidence(TICKETS, {"redis": "Connection refused"}, serving=False), TICKETS)
    assert verdict.key == "dependency-failure:redis"
    assert "the service is impacted" in verdict.summary


def test_redis_down_is_a_failure_for_it_even_before_its_replicas_turn_not_ready():
    verdict = decide(evidence(TICKETS, {"redis": "Connection refused"}), TICKETS)
    assert verdict.key == "dependency-failure:redis"
    assert "cannot work without it" in verdict.summary


def test_the_same_redis_outage_is_only_degraded_for_ecommerce_backend():
    verdict = decide(evidence(ECOMMERCE, {"redis": "Connection refused"}), ECOMMERCE)
    assert (verdict.kind, verdict.dependency) == (DEPENDENCY_DEGRADED, "redis")
    assert "runs degraded" in verdict.summary


def test_a_dependency_it_should_survive_that_takes_it_down_anyway_is_a_failure_that_says_so():
    verdict = decide(evidence(ECOMMERCE, {"redis": "Connection refused"}, serving=False), ECOMMERCE)
    assert (verdict.kind, verdict.dependency) == (DEPENDENCY_FAILURE, "redis")
    assert "although its profile says it survives its loss" in verdict.summary


def test_a_critical_dependency_is_named_before_a_degraded_one_whatever_the_profile_order():
    prof = profile([{"name": "events", "kind": "kafka", "on_outage": "degraded"},
                    {"name": "sessions", "kind": "redis"}])
    verdict = decide(evidence(prof, {"events": "refused", "sessions": "refused"}, serving=False), prof)
    assert verdict.key == "dependency-failure:sessions"
    assert "also failing: events" in verdict.summary


def test_checks_of_dependencies_the_profile_does_not_name_are_not_evidence():
    ev = evidence(TICKETS, {})
    ev.dependencies.append(DependencyCheck("kafka", False, 0.01, "Connection refused"))
    assert decide(ev, TICKETS).key == "no-outage"


def test_diagnose_checks_only_the_profiles_dependencies_and_names_redis_in_the_resolution():
    target = FakeTarget(profile=TICKETS)
    target.checks["redis"] = DependencyCheck("redis", False, 0.01, "Connection refused", "redis-cli -h r ping")
    target.replica_list = [replace(r, ready=False) for r in target.replica_list]
    target.endpoint_list = [replace(e, ready=False, state="DOWN") for e in target.endpoint_list]
    result = diagnose(target, TICKETS, RUNBOOK)
    assert result.verdict.key == "dependency-failure:redis"
    assert sorted({c for c in target.calls if c.startswith("check:")}) == ["check:postgres", "check:redis"]
    assert [c.name for c in result.evidence.dependencies] == ["postgres", "redis"]
    assert "Redis" in result.resolution.steps[0]
    assert result.resolution.commands == ["redis-cli -h r ping"]
    assert "相依服務" in result.resolution.runbook_step
    assert target.actions == []


@pytest.mark.parametrize("fault", ["stop-dependency", "hang-dependency"])
def test_redis_loss_pages_for_the_service_that_cannot_live_without_it_only(fault):
    params = {"dependency": "redis"}
    lost = "dependency-hang" if fault == "hang-dependency" else "dependency-failure"  # it hangs: timeouts find it
    assert get_fault(fault).expected_verdict(get_fault(fault).validate(params, TICKETS), TICKETS) == (
        f"{lost}:redis")
    assert get_fault(fault).expected_verdict(get_fault(fault).validate(params, ECOMMERCE), ECOMMERCE) == (
        "dependency-degraded:redis")
    assert expected_to_fire(fault, params, TICKETS)
    assert not expected_to_fire(fault, params, ECOMMERCE)


def test_a_fault_on_a_dependency_the_service_does_not_have_is_one_clear_error():
    with pytest.raises(UsageError, match="kafka"):
        expected_to_fire("stop-dependency", {"dependency": "kafka"}, TICKETS)
