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
from gameday.targets.local.events import supervisor_events
from gameday.targets.model import ConfigChange, DependencyCheck, Endpoint, Event, LoadBalancer, Replica, Revision
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
    """SIGKILLs as supervisor's log records them (the platform's own words, whoever sent the signal)."""
    return [Event(at + i * 0.01, "Warning", reasons.KILLED, n, f"exited: {n} (terminated by SIGKILL; not expected)",
                  "supervisord") for i, n in enumerate(NAMES)]


def config_write(at: float) -> ConfigChange:
    """The ConfigMap written, as its managedFields record it."""
    return ConfigChange(at, "configmap/ecommerce-backend-config", "config",
                        "configmap/ecommerce-backend-config written by kubectl-edit (Update)")


def timed_out(ev: Evidence) -> Evidence:
    """Every replica Running but not ready, its load-balancer check timing out (HAProxy's L7TOUT)."""
    ev = down(ev, restarts=0)
    ev.endpoints = [replace(e, state="DOWN L7TOUT") for e in ev.endpoints]
    return ev


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
def test_running_replicas_whose_checks_time_out_are_hanging():
    verdict = decide(timed_out(healthy()), PROFILE)
    assert verdict.kind == REPLICAS_HANGING
    assert verdict.actions == ["rollout restart"]
    assert any("L7TOUT" in line for line in verdict.evidence)
    assert verdict.confidence < 1


@pytest.mark.parametrize("state", ["DOWN L4CON", "DOWN L7STS", "DOWN"])
def test_checks_refused_or_answered_with_an_error_are_not_a_hang(state):
    ev = down(healthy())
    ev.endpoints = [replace(e, state=state) for e in ev.endpoints]
    assert decide(ev, PROFILE).kind == ALL_REPLICAS_DOWN


def test_the_kubelets_probe_timeouts_say_hanging_and_its_503s_do_not():
    pods = [f"ecommerce-backend-758bf646df-p{i}" for i in range(3)]

    def unhealthy(message: str, source: str = "kubelet") -> Evidence:
        ev = healthy(replicas=[replica(p) for p in pods], endpoints=[])
        ev = down(ev, restarts=0)
        ev.events = [Event(NOW - 5, "Warning", reasons.UNHEALTHY, f"pod/{p}", f"Readiness probe failed: {message}",
                           source) for p in pods]
        return ev

    timeout = 'Get "http://10.244.0.5:8000/readyz": context deadline exceeded (Client.Timeout exceeded)'
    assert decide(unhealthy(timeout), PROFILE).kind == REPLICAS_HANGING
    assert decide(unhealthy("HTTP probe failed with statuscode: 503"), PROFILE).kind == ALL_REPLICAS_DOWN
    # the same words written by gameday are not evidence
    assert decide(unhealthy(timeout, "gameday"), PROFILE).kind == ALL_REPLICAS_DOWN


def test_a_crash_looping_replica_is_not_hanging_whatever_its_last_check_said():
    ev = timed_out(healthy())
    ev.replicas = [replace(r, phase="CrashLoopBackOff") for r in ev.replicas]
    assert decide(ev, PROFILE).kind != REPLICAS_HANGING


def test_ready_replicas_whose_every_api_call_times_out_are_probably_hanging():
    from gameday.diagnose.evidence import ApiAnswer

    verdict = decide(healthy(api=[ApiAnswer("catalogue", None, True), ApiAnswer("product", 504, True)]), PROFILE)
    assert verdict.kind == REPLICAS_HANGING
    assert verdict.confidence < 0.9 and verdict.alternatives


def test_a_hung_dependency_with_replicas_timing_out_too_names_both():
    verdict = decide(failing_check(timed_out(healthy()), "postgres", "timed out after 2s"), PROFILE)
    assert verdict.key == "dependency-hang:postgres"  # its check got no answer: it hangs, not refuses
    assert verdict.alternatives == [(REPLICAS_HANGING, 0.3)] and verdict.confidence == 0.7
    assert verdict.to_dict()["alternatives"] == [{"key": REPLICAS_HANGING, "confidence": 0.3}]


def test_events_gameday_wrote_are_not_evidence():
    ev = down(healthy(events=[replace(e, source="gameday") for e in kill_events(NOW - 1)]))
    assert recent_changes(ev) == []


# --- dependencies ---------------------------------------------------------------------------------
def test_postgres_down_with_the_service_down_is_a_dependency_failure():
    verdict = decide(failing_check(down(healthy(), restarts=0), "postgres", "no response"), PROFILE)
    assert (verdict.kind, verdict.dependency) == (DEPENDENCY_FAILURE, "postgres")
    assert verdict.key == "dependency-failure:postgres"
    assert verdict.title == "dependency failure: postgres"
    assert verdict.evidence[0].startswith("postgres: FAILED")


def test_postgres_failing_while_replicas_still_report_ready_is_already_a_failure():
    verdict = decide(failing_check(healthy(), "postgres", "Connection refused"), PROFILE)
    assert verdict.key == "dependency-failure:postgres"
    assert "still report ready" in verdict.summary


def test_postgres_hanging_while_replicas_still_report_ready_is_already_a_hang():
    verdict = decide(failing_check(healthy(), "postgres", "no answer within 2.0s"), PROFILE)
    assert verdict.key == "dependency-hang:postgres"


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
    ev = down(healthy(config_changes=[config_write(NOW - 8)], events=kill_events(NOW - 8 + 0.05)))
    verdict = decide(ev, PROFILE)
    assert verdict.kind == CONFIGURATION_PROBLEM
    assert verdict.actions == ["restore config", "rollout restart"]
    assert verdict.evidence[0] == "configmap/ecommerce-backend-config written by kubectl-edit (Update) 8s ago"


def test_a_config_change_then_a_restart_rollout_is_a_configuration_problem():
    ev = healthy(config_changes=[config_write(NOW - 30)])
    ev.history = [*ev.history, Revision(2, "1.4.2", "kubectl rollout restart", NOW - 29)]
    ev = down(ev)
    ev.replicas = [replace(r, revision=2) for r in ev.replicas]
    assert decide(ev, PROFILE).kind == CONFIGURATION_PROBLEM


def test_a_revision_whose_config_hash_changed_is_a_configuration_problem():
    ev = healthy()
    ev.history = [Revision(1, "1.4.2", "initial", NOW - 3600, "aaaa"),
                  Revision(2, "1.4.2", "restart", NOW - 20, "bbbb")]
    assert decide(down(ev), PROFILE).kind == CONFIGURATION_PROBLEM


def test_a_replica_file_edited_by_hand_then_restarted_is_a_configuration_problem():
    edited = ConfigChange(NOW - 12, "file/replica-0/service.json", "config",
                          "replicas/replica-0/service.json differs from what revision 1 renders")
    verdict = decide(down(healthy(config_changes=[edited])), PROFILE)
    assert verdict.kind == CONFIGURATION_PROBLEM
    assert "service.json differs" in verdict.evidence[0]


def test_replicas_set_to_run_another_command_by_hand_are_a_failed_deployment():
    command = ConfigChange(NOW - 12, "command/replica-0", "command", "replica-0 is set to run 'false', not rev 1's")
    verdict = decide(down(healthy(config_changes=[command]), phase="CrashLoopBackOff"), PROFILE)
    assert verdict.kind == FAILED_DEPLOYMENT
    assert "outside the rollout history" in verdict.summary


def test_a_config_change_event_gameday_wrote_is_not_a_config_change():
    event = Event(NOW - 5, "Normal", "ConfigChanged", "configmap/ecommerce-backend-config", "changed", "gameday")
    assert decide(down(healthy(events=[event])), PROFILE).kind == ALL_REPLICAS_DOWN


# --- all replicas down ----------------------------------------------------------------------------
def test_killed_replicas_with_no_recent_change_are_all_replicas_down():
    verdict = decide(down(healthy(events=kill_events(NOW - 1))), PROFILE)
    assert verdict.kind == ALL_REPLICAS_DOWN
    assert verdict.actions == ["rollout restart"]
    assert "killed" in verdict.summary


def test_kills_after_a_repaired_configuration_are_not_blamed_on_the_configuration():
    # the previous configuration was restored and rolled out (a test's clean-up), then the replicas were killed
    ev = healthy(config_changes=[config_write(NOW - 20)], events=kill_events(NOW - 2))
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


def test_kubernetes_pods_replaced_long_after_their_rollout_count_as_kills():
    ev = healthy()
    ev.replicas = [replace(replica(f"ecommerce-backend-758bf646df-new{i}"), started_at=NOW - 2) for i in range(3)]
    assert [c.subject for c in recent_changes(ev)] == [f"ecommerce-backend-758bf646df-new{i}" for i in range(3)]
    assert decide(ev, PROFILE).recovered_from == ALL_REPLICAS_DOWN
    assert decide(down(ev, restarts=0), PROFILE).kind == ALL_REPLICAS_DOWN
    # pods started with their rollout, or restarted in place (a crash loop), were not replaced
    rolled = healthy(history=[Revision(1, "1.4.2", "initial", NOW - 10)])
    rolled.replicas = [replace(r, started_at=NOW - 9) for r in rolled.replicas]
    assert recent_changes(rolled)[1:] == []
    restarted = healthy()
    restarted.replicas = [replace(r, started_at=NOW - 2, restarts=3) for r in restarted.replicas]
    assert recent_changes(restarted) == []


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


def _slow_redis_logs(replica_name: str, timeout_word: str = "timed out after 0.3s") -> list[LogMatch]:
    return [LogMatch(replica_name, "service unavailable",
                     f"GET /_status/ready -> 503 service unavailable (redis: {timeout_word} (127.0.0.1:6379))")] * 3


def test_a_slow_dependency_the_failing_replicas_log_as_timing_out_degrades_the_service() -> None:
    """Redis answers every check (slowly), one replica is out: its own logs say Redis timed out."""
    ev = healthy()
    ev.replicas = [replace(r, ready=False, started_at=NOW - 600) if r.name == "replica-1" else r for r in ev.replicas]
    ev.log_matches = _slow_redis_logs("replica-1")
    verdict = decide(ev, PROFILE)
    assert verdict.key == f"{DEPENDENCY_DEGRADED}:redis", verdict.summary
    ev.history.append(Revision(2, "1.5.0", "rolled out ten minutes ago", NOW - 600))  # ran on it since, unrestarted
    ev.replicas = [replace(r, revision=2, version="1.5.0") for r in ev.replicas]
    assert decide(ev, PROFILE).key == f"{DEPENDENCY_DEGRADED}:redis"
    assert "timed out" in verdict.summary and "1/3 replicas are not ready" in verdict.summary


@pytest.mark.parametrize("case", ["no timeout in the line", "another replica's lines", "a stopped replica",
                                  "redis failing its checks", "a replica just started", "a restarted replica"])
def test_the_slow_dependency_rule_needs_a_timeout_from_a_failing_live_replica_and_an_answering_check(case) -> None:
    ev = healthy()
    out = "replica-1"
    ev.replicas = [replace(r, ready=False, started_at=NOW - 600) if r.name == out else r for r in ev.replicas]
    ev.log_matches = _slow_redis_logs(out)
    if case == "no timeout in the line":
        ev.log_matches = _slow_redis_logs(out, "not checked yet")
    elif case == "another replica's lines":
        ev.log_matches = _slow_redis_logs("replica-0")
    elif case == "a stopped replica":
        ev.replicas = [replace(r, phase="Stopped") if r.name == out else r for r in ev.replicas]
    elif case == "a replica just started":  # a release failing at its start: the change's rules, whatever it logs
        ev.replicas = [replace(r, started_at=NOW - 5) if r.name == out else r for r in ev.replicas]
    elif case == "a restarted replica":
        ev.replicas = [replace(r, restarts=1) if r.name == out else r for r in ev.replicas]
    else:
        ev = failing_check(ev, "redis")
    verdict = decide(ev, PROFILE)
    assert verdict.kind != DEPENDENCY_DEGRADED or case == "redis failing its checks", verdict.summary
    if case == "redis failing its checks":  # a check that fails is rule 2's: the dependency is down
        assert "does not answer" in verdict.summary
