"""A configuration the replicas run healthily on is not what breaks one of them later (issue 21).

The bench's ticket-office game day diagnosed ``dependency-latency`` as a configuration problem: one of three replicas
was a moment not ready, and the configuration rule blamed the configuration bad-config's restore had written 92 s
before - on which every replica had been restarted and had run ready since. A configuration breaks replicas when they
start on it (they crash, or never get ready); replicas that started on it a while ago and are ready, never restarted,
show an on-call engineer it works (``kubectl get pods``: AGE 92s, 0 RESTARTS, 1/1 READY beside the failing pod).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gameday.diagnose import decide
from gameday.diagnose.diagnosis import diagnose
from gameday.diagnose.rules import CONFIGURATION_PROBLEM, UNKNOWN
from gameday.targets.model import ConfigChange, Revision
from tests.diagnose_fakes import PROFILE
from tests.test_diagnose_rules import NOW, config_write, down, healthy


def restored_then_one_replica_failing(age_s: float = 92.0):
    """The bench's evidence: the ConfigMap written ``age_s`` ago and a restart rollout a moment after, every
    replica started on it then, never restarted; now one not ready (its readiness answering 503, not timing out)."""
    ev = healthy(config_changes=[config_write(NOW - age_s)])
    ev.history = [*ev.history, Revision(2, "1.4.2", "kubectl rollout restart", NOW - age_s + 0.5)]
    ev.replicas = [replace(r, revision=2, started_at=NOW - age_s + 1) for r in ev.replicas]
    ev.replicas[1] = replace(ev.replicas[1], ready=False, probe="HTTP 503")
    ev.endpoints[1] = replace(ev.endpoints[1], ready=False, state="DOWN L7STS")
    ev.load_balancer = replace(ev.load_balancer, ready_backends=2)
    return ev


def test_one_replica_failing_beside_replicas_serving_on_the_config_for_a_minute_is_not_the_config():
    verdict = decide(restored_then_one_replica_failing(), PROFILE)
    assert verdict.kind != CONFIGURATION_PROBLEM, verdict.summary
    assert verdict.kind == UNKNOWN and "1/3 replicas not ready" in verdict.summary


def test_a_replica_not_ready_beside_replicas_started_on_the_config_seconds_ago_is_not_the_config():
    """The same game day's dependency-latency right after bad-config (the restore 26 s before): the replicas that
    started on the configuration got ready on it; the one not ready now has not crashed. The configuration lets a
    replica start and serve: it is not what this one fails on."""
    verdict = decide(restored_then_one_replica_failing(age_s=26.0), PROFILE)
    assert verdict.kind == UNKNOWN, verdict.summary


def test_a_replica_crashing_beside_replicas_only_seconds_on_the_config_does_not_clear_it():
    """Ready a moment after their start is not yet proof against a crash: a configuration may break a replica a few
    seconds in, as it breaks the one restarting now."""
    ev = restored_then_one_replica_failing(age_s=12.0)
    ev.replicas[1] = replace(ev.replicas[1], restarts=1)
    assert decide(ev, PROFILE).kind == CONFIGURATION_PROBLEM
    ev.replicas[1] = replace(ev.replicas[1], restarts=0, phase="CrashLoopBackOff")
    assert decide(ev, PROFILE).kind == CONFIGURATION_PROBLEM
    aged = restored_then_one_replica_failing()  # a minute and a half on it: the crash is the replica's own
    aged.replicas[1] = replace(aged.replicas[1], restarts=1)
    assert decide(aged, PROFILE).kind != CONFIGURATION_PROBLEM


def test_every_replica_failing_on_the_config_is_still_the_config():
    ev = restored_then_one_replica_failing()
    ev = down(ev, restarts=0)
    assert decide(ev, PROFILE).kind == CONFIGURATION_PROBLEM


def test_replicas_ready_on_it_but_restarted_since_do_not_clear_it():
    """A replica that crashed and came back on the configuration is not serving on it healthily."""
    ev = restored_then_one_replica_failing()
    ev.replicas = [replace(r, restarts=2) if r.ready else r for r in ev.replicas]
    assert decide(ev, PROFILE).kind == CONFIGURATION_PROBLEM


def test_a_file_edited_on_one_replica_is_cleared_only_by_that_replica():
    """A replica's own file, edited by hand and restarted on: the others do not run it, so their health says
    nothing about it; the edited replica failing is the configuration."""
    edited = ConfigChange(NOW - 92, "file/replica-1/service.json", "config",
                          "replicas/replica-1/service.json differs from what revision 1 renders")
    ev = restored_then_one_replica_failing()
    ev.history = ev.history[:1]
    ev.replicas = [replace(r, revision=1) for r in ev.replicas]
    ev.config_changes = [edited]
    assert decide(ev, PROFILE).kind == CONFIGURATION_PROBLEM
    ev.config_changes = [replace(edited, object="file/replica-0/service.json")]  # replica-0 runs it, ready
    assert decide(ev, PROFILE).kind != CONFIGURATION_PROBLEM


@pytest.mark.slow
def test_the_local_target_a_minute_after_a_restored_config_blames_no_config(healthy):
    """On the real stack: the live configuration written again (what bad-config's restore does) and the replicas
    restarted on it, then one replica stopped by hand (``supervisorctl stop``). Right after the restart the
    replicas have run on it for seconds (a configuration problem it may be); the same evidence a minute later
    (``collected_at`` moved on, nothing else: what ``kubectl get pods`` would show then) clears it."""
    target = healthy
    target.replace_config(target.config(), cause="issue 21: the configuration written again")
    target.rollout_restart(wait=True)
    name = target.replica_names[1]
    target.supervisor.stop(name)
    try:
        found = diagnose(target, target.profile)
        assert [r.name for r in found.evidence.replicas if not r.ready] == [name]
        assert found.verdict.kind == CONFIGURATION_PROBLEM, found.verdict.summary  # seconds on it: not yet proven
        later = replace(found.evidence, collected_at=found.evidence.collected_at + 60)
        verdict = decide(later, target.profile)
        assert verdict.kind == UNKNOWN, verdict.summary
        assert "1/3 replicas not ready" in verdict.summary
    finally:
        target.start_replicas()
