"""The verdict rules, as a pure function of evidence: no stack, no clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gameday import reasons
from gameday.diagnose.evidence import Evidence, LogMatch
from gameday.diagnose.rules import (
    ALL_REPLICAS_DOWN,
    CONFIGURATION_PROBLEM,
    DEPENDENCY_DEGRADED,
    DEPENDENCY_FAILURE,
    FAILED_DEPLOYMENT,
    KINDS,
    NO_OUTAGE,
    RECENT_S,
    REPLICAS_HANGING,
    TITLES,
    UNKNOWN,
    Verdict,
    ago,
    decide,
    episode,
    recent_changes,
)
from gameday.targets.base import DependencyCheck, Endpoint, Event, LoadBalancer, Replica, Revision
from gameday.targets.local.events import supervisor_events
from tests.diagnose_fakes import PROFILE

NOW = 1_800_000_000.0
NAMES = ("replica-0", "replica-1", "replica-2")


def replica(name: str, phase: str = "Running", ready: bool = True, restarts: int = 0, revision: int = 1,
            version: str = "1.4.2") -> Replica:
    return Replica(name, phase, ready, restarts, revision, version)


def healthy(**changes) -> Evidence:
    """Evidence of a healthy target: revision 1 an hour ago, everything ready and answering."""
    ev = Evidence(
        target="test",
        collected_at=NOW,
        replicas=[replica(n) for n in NAMES],
        endpoints=[Endpoint(n, f"127.0.0.1:{9000 + i}", True, "UP") for i, n in enumerate(NAMES)],
        load_balancer=LoadBalancer("lb", "http://127.0.0.1:8080", "up", 3, 3),
        history=[Revision(1, "1.4.2", "initial deploy", NOW - 3600)],
        events=[],
        dependencies=[DependencyCheck(d, True, 0.01, "ok") for d in ("postgres", "redis", "kafka")],
    )
    for key, value in changes.items():
        setattr(ev, key, value)
    return ev


def down(ev: Evidence, phase: str = "Running", restarts: int = 1) -> Evidence:
    """Every replica and endpoint not ready."""
    ev.replicas = [replace(r, phase=phase, ready=False, restarts=restarts) for r in ev.replicas]
    ev.endpoints = [replace(e, ready=False, state="DOWN") for e in ev.endpoints]
    ev.load_balancer = replace(ev.load_balancer, ready_backends=0)
    return ev


def failing_check(ev: Evidence, name: str, detail: str = "Connection refused") -> Evidence:
    ev.dependencies = [DependencyCheck(c.name, False, 0.002, detail) if c.name == name else c for c in ev.dependencies]
    return ev


def kill_events(at: float) -> list[Event]:
    return [Event(at + i * 0.01, "Normal", reasons.KILLED, n, f"Killing replica {n} (SIGKILL)")
            for i, n in enumerate(NAMES)]


def config_event(at: float) -> Event:
    return Event(at, "Normal", reasons.CONFIG_CHANGED, "configmap/ecommerce-backend-config",
                 "configuration changed (DB_HOST)")


# --- healthy --------------------------------------------------------------------------------------
def test_healthy_target_has_no_outage():
    verdict = decide(healthy(), PROFILE)
    assert verdict.kind == NO_OUTAGE
    assert verdict.title == "no outage found"
    assert verdict.actions == []
    assert verdict.recovered_from is None


def test_healthy_after_every_replica_was_killed_moments_ago_says_it_recovered():
    verdict = decide(healthy(events=kill_events(NOW - 10)), PROFILE)
    assert verdict.kind == NO_OUTAGE
    assert verdict.recovered_from == ALL_REPLICAS_DOWN
    assert "came back by itself" in verdict.summary


def test_healthy_after_an_old_kill_is_just_healthy():
    assert decide(healthy(events=kill_events(NOW - 600)), PROFILE).recovered_from is None


def test_restarted_replicas_that_are_ready_again_are_healthy():
    ev = healthy()
    ev.replicas = [replace(r, restarts=4) for r in ev.replicas]
    assert decide(ev, PROFILE).kind == NO_OUTAGE


# --- hanging --------------------------------------------------------------------------------------
def test_frozen_replicas_are_hanging_even_while_the_load_balancer_still_lists_them():
    ev = healthy()
    ev.replicas = [replace(r, phase="Frozen", ready=False) for r in ev.replicas]
    verdict = decide(ev, PROFILE)
    assert verdict.kind == REPLICAS_HANGING
    assert verdict.actions == ["rollout restart"]
    assert any("Frozen" in line for line in verdict.evidence)


# --- dependencies ---------------------------------------------------------------------------------
def test_postgres_down_with_the_service_down_is_a_dependency_failure():
    verdict = decide(failing_check(down(healthy(), restarts=0), "postgres", "no response"), PROFILE)
    assert (verdict.kind, verdict.dependency) == (DEPENDENCY_FAILURE, "postgres")
    assert verdict.key == "dependency-failure:postgres"
    assert verdict.title == "dependency failure: postgres"
    assert verdict.evidence[0].startswith("postgres: FAILED")


def test_postgres_failing_while_replicas_still_report_ready_is_already_a_failure():
    verdict = decide(failing_check(healthy(), "postgres", "no answer within 2.0s"), PROFILE)
    assert verdict.key == "dependency-failure:postgres"
    assert "still report ready" in verdict.summary


@pytest.mark.parametrize("dep", ["redis", "kafka"])
def test_redis_or_kafka_down_while_everything_serves_is_degraded(dep):
    verdict = decide(failing_check(healthy(), dep), PROFILE)
    assert verdict.key == f"dependency-degraded:{dep}"
    assert verdict.title == f"dependency degraded: {dep}"


def test_redis_down_with_replicas_not_ready_is_a_failure():
    assert decide(failing_check(down(healthy()), "redis"), PROFILE).key == "dependency-failure:redis"


def test_the_first_failing_dependency_is_named_and_the_others_listed():
    verdict = decide(failing_check(failing_check(healthy(), "kafka"), "redis"), PROFILE)
    assert verdict.key == "dependency-degraded:redis"
    assert "also failing: kafka" in verdict.summary


def test_dependency_log_lines_are_preferred_in_the_evidence():
    ev = failing_check(healthy(), "redis")
    ev.log_matches = [
        LogMatch("replica-0", "Connection refused", "2026-01-01T00:00:00Z ERROR redis: Connection refused"),
        LogMatch("replica-1", "service unavailable", "2026-01-01T00:00:00Z ERROR postgres: 503 service unavailable"),
    ]
    lines = decide(ev, PROFILE).evidence
    assert any("redis: Connection refused" in line for line in lines)
    assert not any("postgres: 503" in line for line in lines)


# --- failed deployment ----------------------------------------------------------------------------
def bad_release(age: float = 20.0) -> Evidence:
    ev = healthy()
    ev.history = [*ev.history, Revision(2, "1.5.0-broken", "bad release", NOW - age)]
    ev = down(ev, phase="CrashLoopBackOff", restarts=2)
    ev.replicas = [replace(r, revision=2, version="1.5.0-broken") for r in ev.replicas]
    ev.log_matches = [LogMatch("replica-0", "FATAL", "2026-01-01T00:00:00Z FATAL pod=replica-0 release crashed")]
    return ev


def test_a_recent_rollout_whose_replicas_crash_is_a_failed_deployment():
    verdict = decide(bad_release(), PROFILE)
    assert verdict.kind == FAILED_DEPLOYMENT
    assert verdict.actions == ["rollout undo"]
    assert "revision 2 (1.5.0-broken)" in verdict.summary
    assert any("previous: 1.4.2" in line for line in verdict.evidence)
    assert any("FATAL" in line for line in verdict.evidence)


def test_a_failed_deployment_is_named_while_some_replicas_are_up_between_crashes():
    ev = bad_release()
    ev.replicas[0] = replace(ev.replicas[0], phase="Running", ready=True)
    ev.endpoints[0] = replace(ev.endpoints[0], ready=True, state="UP")
    assert decide(ev, PROFILE).kind == FAILED_DEPLOYMENT


def test_an_old_rollout_is_not_a_recent_change():
    verdict = decide(bad_release(age=RECENT_S + 60), PROFILE)
    assert verdict.kind == ALL_REPLICAS_DOWN
    assert "no change in the last" in verdict.summary


def test_replicas_failing_on_an_older_revision_do_not_blame_the_new_one():
    ev = bad_release()
    ev.replicas = [replace(r, revision=1, version="1.4.2") for r in ev.replicas]
    assert decide(ev, PROFILE).kind == ALL_REPLICAS_DOWN


def test_a_rollout_that_never_gets_ready_counts_too():
    ev = bad_release()
    ev.replicas = [replace(r, phase="Running", restarts=0) for r in ev.replicas]
    assert decide(ev, PROFILE).kind == FAILED_DEPLOYMENT


# --- configuration --------------------------------------------------------------------------------
def test_a_config_change_picked_up_by_killing_the_replicas_is_a_configuration_problem():
    ev = down(healthy(events=[config_event(NOW - 8), *kill_events(NOW - 8 + 0.05)]))
    verdict = decide(ev, PROFILE)
    assert verdict.kind == CONFIGURATION_PROBLEM
    assert verdict.actions == ["restore config", "rollout restart"]
    assert verdict.evidence[0].startswith("event 8s ago: Normal ConfigChanged")


def test_a_config_change_then_a_restart_rollout_is_a_configuration_problem():
    ev = healthy(events=[config_event(NOW - 30)])
    ev.history = [*ev.history, Revision(2, "1.4.2", "kubectl rollout restart", NOW - 29)]
    ev = down(ev)
    ev.replicas = [replace(r, revision=2) for r in ev.replicas]
    assert decide(ev, PROFILE).kind == CONFIGURATION_PROBLEM


def test_a_revision_whose_config_hash_changed_is_a_configuration_problem():
    ev = healthy()
    ev.history = [Revision(1, "1.4.2", "initial", NOW - 3600, "aaaa"),
                  Revision(2, "1.4.2", "restart", NOW - 20, "bbbb")]
    assert decide(down(ev), PROFILE).kind == CONFIGURATION_PROBLEM


def test_a_config_change_on_a_configmap_object_counts_without_the_local_reason():
    ev = down(healthy(events=[Event(NOW - 5, "Normal", "Updated", "configmap/ecommerce-backend-config", "updated")]))
    assert decide(ev, PROFILE).kind == CONFIGURATION_PROBLEM


# --- all replicas down ----------------------------------------------------------------------------
def test_killed_replicas_with_no_recent_change_are_all_replicas_down():
    verdict = decide(down(healthy(events=kill_events(NOW - 1))), PROFILE)
    assert verdict.kind == ALL_REPLICAS_DOWN
    assert verdict.actions == ["rollout restart"]
    assert "killed" in verdict.summary


def test_kills_after_a_repaired_configuration_are_not_blamed_on_the_configuration():
    # the previous configuration was restored and rolled out (a test's clean-up), then the replicas were killed
    ev = healthy(events=[config_event(NOW - 20), *kill_events(NOW - 2)])
    ev.history = [*ev.history, Revision(2, "1.4.2", "kubectl rollout restart", NOW - 19.9)]
    assert decide(down(ev), PROFILE).kind == ALL_REPLICAS_DOWN


def test_kills_after_a_good_rollout_are_not_a_failed_deployment():
    ev = healthy(events=kill_events(NOW - 2))
    ev.history = [*ev.history, Revision(2, "1.4.3", "deploy", NOW - 15)]
    ev = down(ev)
    ev.replicas = [replace(r, revision=2, version="1.4.3") for r in ev.replicas]
    assert decide(ev, PROFILE).kind == ALL_REPLICAS_DOWN


def supervisor_log(tmp_path, lines: list[str]) -> list[Event]:
    """Events as the local target reads them from supervisord's log, stamped just before NOW."""
    path = tmp_path / "supervisord.log"
    path.write_text("".join(f"2026-01-01 00:00:0{i},000 INFO {line}\n" for i, line in enumerate(lines)))
    events = supervisor_events(path)
    return [replace(e, timestamp=NOW - 1 + i * 0.01) for i, e in enumerate(events)]


def test_a_kill_seen_only_as_an_unexpected_sigkill_exit_counts_as_a_kill(tmp_path):
    events = supervisor_log(tmp_path, [f"exited: {n} (terminated by SIGKILL; not expected)" for n in NAMES])
    assert {e.reason for e in events} == {reasons.KILLED}
    changes = recent_changes(down(healthy(events=events)))
    assert [c.kind for c in changes] == ["kill"] * 3


def test_a_crash_or_a_rollout_stopping_replicas_is_not_a_kill(tmp_path):
    events = supervisor_log(tmp_path, [f"stopped: {n} (terminated by SIGKILL)" for n in NAMES]
                            + ["exited: replica-0 (exit status 1; not expected)"])
    assert [e.reason for e in events] == [reasons.KILLING] * 3 + [reasons.BACK_OFF]
    assert recent_changes(healthy(events=events)) == []


def test_no_ready_endpoint_is_all_replicas_down_even_when_replicas_answer_their_probe():
    ev = healthy()
    ev.endpoints = [replace(e, ready=False, state="DOWN") for e in ev.endpoints]
    assert decide(ev, PROFILE).kind == ALL_REPLICAS_DOWN


# --- unknown --------------------------------------------------------------------------------------
def test_one_replica_down_with_no_explanation_is_unknown():
    ev = healthy()
    ev.replicas[1] = replace(ev.replicas[1], ready=False, phase="Terminated")
    verdict = decide(ev, PROFILE)
    assert verdict.kind == UNKNOWN
    assert "1/3 replicas not ready" in verdict.summary
    assert verdict.actions == ["logs"]


def test_a_load_balancer_that_is_down_in_front_of_ready_replicas_is_unknown_not_replicas_down():
    ev = healthy(load_balancer=LoadBalancer("lb", "http://127.0.0.1:8080", "down", 0, 3))
    verdict = decide(ev, PROFILE)
    assert verdict.kind == UNKNOWN
    assert "load balancer" in verdict.summary


def test_unreadable_replicas_are_unknown_with_the_error():
    ev = healthy(replicas=[], errors={"replicas": "local stack is not running"})
    verdict = decide(ev, PROFILE)
    assert verdict.kind == UNKNOWN
    assert "local stack is not running" in verdict.summary


# --- plumbing -------------------------------------------------------------------------------------
def test_episode_of_no_change_is_none():
    assert episode([]) == ("none", [])


def test_every_kind_has_a_title():
    assert set(TITLES) == set(KINDS)


def test_verdict_dict_carries_key_title_and_evidence():
    data = Verdict(DEPENDENCY_DEGRADED, "s", ["e"], "kafka", []).to_dict()
    assert data["key"] == "dependency-degraded:kafka"
    assert data["title"] == "dependency degraded: kafka"
    assert data["evidence"] == ["e"]


def test_evidence_round_trips_through_a_dict():
    ev = bad_release()
    ev.events = kill_events(NOW - 1)
    again = Evidence.from_dict(ev.to_dict())
    assert again == ev
    assert decide(again, PROFILE).kind == decide(ev, PROFILE).kind


@pytest.mark.parametrize(("seconds", "shown"), [(5, "5s"), (65, "1m05s"), (3 * 3600 + 120, "3h02m"), (-3, "0s")])
def test_ago(seconds, shown):
    assert ago(seconds) == shown


def test_kubernetes_pods_killed_and_replaced_under_new_names_count_as_kills():
    ev = healthy()
    ev.replicas = [replica(f"ecommerce-backend-758bf646df-new{i}") for i in range(3)]
    ev.events = [Event(NOW - 2, "Normal", reasons.KILLED, f"pod/ecommerce-backend-758bf646df-old{i}",
                       f"Killing replica ecommerce-backend-758bf646df-old{i} (pod deleted, grace period 0)")
                 for i in range(3)]
    ev.events.append(Event(NOW - 2, "Normal", reasons.KILLED, "pod/postgres-0",
                           "Killing replica postgres-0 (pod deleted)"))
    assert [c.subject for c in recent_changes(ev)] == [f"ecommerce-backend-758bf646df-old{i}" for i in range(3)]
    assert decide(ev, PROFILE).recovered_from == ALL_REPLICAS_DOWN
    assert decide(down(ev), PROFILE).kind == ALL_REPLICAS_DOWN


def test_a_release_that_passes_its_probes_but_fails_every_api_call_is_a_failed_deployment():
    from gameday.diagnose.evidence import ApiAnswer

    rolled = [Revision(1, "1.4.2", "initial deploy", NOW - 3600), Revision(2, "1.5.0-bad", "deploy", NOW - 20)]
    failing_api = [ApiAnswer("catalogue", 500, True), ApiAnswer("product", 500, True)]
    on_new = [replica(n, revision=2, version="1.5.0-bad") for n in NAMES]
    verdict = decide(healthy(history=rolled, replicas=on_new, api=failing_api), PROFILE)
    assert verdict.kind == FAILED_DEPLOYMENT, verdict.summary
    assert "pass their probes but every API endpoint fails" in verdict.summary
    assert "catalogue 500" in " ".join(verdict.evidence)
    # the same release with one endpoint still answering is not this verdict; nor is a failing API with no rollout
    partly = [ApiAnswer("catalogue", 500, True), ApiAnswer("product", 200, False)]
    assert decide(healthy(history=rolled, replicas=on_new, api=partly), PROFILE).kind == NO_OUTAGE
    unexplained = decide(healthy(api=failing_api), PROFILE)
    assert unexplained.kind == UNKNOWN and "every API endpoint fails through the load balancer" in unexplained.summary


def test_a_ready_replica_out_of_the_load_balancers_rotation_is_named_not_a_vague_impact():
    ev = healthy()
    ev.endpoints[1] = replace(ev.endpoints[1], ready=False, state="DOWN")
    verdict = decide(ev, PROFILE)
    assert verdict.kind == UNKNOWN
    assert f"1/3 endpoints out of the load balancer's rotation ({NAMES[1]} DOWN)" in verdict.summary
