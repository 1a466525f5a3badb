"""Blind trials on the fake API: each runbook outage caused with kubectl (and, for what kubectl cannot do on the
fake, its kubelet simulation), never through gameday; ``gameday diagnose`` must name the cause from what a cluster
shows (pod states and restarts, endpoints, the kubelet's events, rollout history, the ConfigMap's managedFields).
The trials are :mod:`bench.blind`'s.

Each trial gets a settled cluster of its own: a fake API server seeded for it alone and aged an hour
(:meth:`FakeKube.age`), as an incident finds a cluster - its last rollout not seconds old, no ConfigMap written by
someone else minutes ago. A verdict that depended on what an earlier test left (the shared scenario's baseline
rollout, a ReplicaSet another test created) would pass by order, which proves nothing; here the order cannot
matter. The other tests are the three ways the trials once failed by order, each reproduced on purpose."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench.blind import KUBE_TRIALS, SETTLED_S, Cluster, Trial, run_trial, settled_cluster, trials_for
from gameday.diagnose import decide
from gameday.diagnose.rules import ALL_REPLICAS_DOWN, CONFIGURATION_PROBLEM, FAILED_DEPLOYMENT, NO_OUTAGE
from gameday.targets.model import ConfigChange
from tests.diagnose_fakes import PROFILE
from tests.fakekube.timefmt import parse_time
from tests.kubernetes.conftest import BACKEND, wait_for
from tests.test_diagnose_rules import NOW, down, healthy


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A settled fake cluster of this test's own (:func:`bench.blind.settled_cluster`)."""
    with settled_cluster(tmp_path) as settled:
        yield settled
        assert not settled.fake.errors, "fake API server reported internal errors:\n" + "\n".join(settled.fake.errors)


def test_every_kubernetes_trial_is_run_here():
    """The catalogue and this file agree: a trial added to bench/blind.py is tried here."""
    assert {t.name for t in KUBE_TRIALS} == set(trials_for("kubernetes"))
    assert {t.target for t in KUBE_TRIALS} == {"kubernetes"}


@pytest.mark.parametrize("trial", KUBE_TRIALS, ids=lambda t: t.name)
def test_an_outage_caused_with_kubectl_gets_its_cause(cluster: Cluster, trial: Trial):
    assert cluster.diagnose()[0] == NO_OUTAGE  # the settled cluster is healthy before the incident
    outcome, undo = run_trial(trial, cluster.hands, cluster.target.profile)
    try:
        print(f"{trial.name}: {outcome.verdict} ({outcome.confidence:.0%}) in {outcome.duration_s:.1f}s")
        assert outcome.verdict != NO_OUTAGE, outcome.summary
        assert outcome.verdict == outcome.cause, outcome.summary
    finally:
        undo()


# --- the ways the trials failed by order on the shared scenario, each on purpose -------------------------------------
def test_a_release_set_again_is_dated_when_it_became_current(cluster: Cluster):
    """``kubectl set image`` to a release that was rolled out and undone an hour ago brings its ReplicaSet back, with
    its hour-old creationTimestamp; the controller makes it revision max+1 and scales it up now. The rollout is
    dated by that (the API server's record of the controller's write), not by the ReplicaSet's creation, so it is a
    failed deployment, not an unexplained outage."""
    cluster.fake.age(-SETTLED_S)  # back to the moment of seeding, to release, undo and then age again
    hands = cluster.hands
    container = hands.kube.container or hands.kube.deployment
    hands.kubectl("set", "image", hands.deployment(), f"{container}={hands.kube.bad_image}")
    wait_for(hands.any_crash_looping, 15, message="the bad release crash-looping")
    hands.kubectl("rollout", "undo", hands.deployment())
    wait_for(cluster.rollout_complete, 15, message="the undo rolled out")
    cluster.fake.age(SETTLED_S)
    assert cluster.diagnose()[0] == NO_OUTAGE

    hands.kubectl("set", "image", hands.deployment(), f"{container}={hands.kube.bad_image}")
    wait_for(hands.any_crash_looping, 15, message="the bad release crash-looping again")
    history = {r.number: r for r in cluster.target.history()}
    assert sorted(history) == [3, 4]  # 1.4.2 (revision 1, 3 since the undo), the bad one (2, 4 now), reused
    assert history[4].version == hands.kube.bad_image.rsplit(":", 1)[1]
    reused = cluster.fake.get("replicasets", f"{BACKEND}-{history[4].config_hash}", "production") or {}
    assert parse_time(reused["metadata"]["creationTimestamp"]) < time.time() - SETTLED_S + 60  # created an hour ago
    assert history[4].created_at > time.time() - 60  # current since just now
    verdict, summary = cluster.diagnose()
    assert verdict == FAILED_DEPLOYMENT, summary
    assert "revision 4" in summary


def test_pods_hung_right_after_a_rollout_are_hanging(cluster: Cluster):
    """A rollout completed a moment ago and every pod of it then frozen: the rollout is the latest change, but
    Running pods whose probes time out hang; a rollout whose pods got ready did not fail."""
    cluster.hands.rollout_restart()
    wait_for(cluster.rollout_complete, 15, message="the restart rolled out")
    trial = trials_for("kubernetes")["pods-hung"]
    outcome, undo = run_trial(trial, cluster.hands, cluster.target.profile)
    try:
        assert outcome.verdict == outcome.cause, outcome.summary
    finally:
        undo()


def test_pods_deleted_minutes_after_someone_wrote_the_configmap_are_down(cluster: Cluster):
    """The ConfigMap written seven minutes ago (another team's harmless key), after the pods now running started;
    then every pod deleted. The write is older than the pods that were deleted, which ran on it: it cannot explain
    their deletion. All replicas down."""
    cluster.hands.kubectl("patch", "configmap", cluster.hands.kube.configmap, "--type", "merge",
                          "-p", '{"data": {"FEATURE_BANNER": "on"}}')
    cluster.fake.age(420)
    trial = trials_for("kubernetes")["pods-deleted"]
    outcome, undo = run_trial(trial, cluster.hands, cluster.target.profile)
    try:
        assert outcome.verdict == ALL_REPLICAS_DOWN, outcome.summary
    finally:
        undo()


def test_a_configuration_written_after_the_failing_pods_started_does_not_explain_them():
    """Pods running for an hour fail; the ConfigMap was written seven minutes ago and nothing restarted them since:
    they do not run that configuration (a service reads it when it starts), so it is not their cause."""
    ev = down(healthy(), restarts=0)
    ev.replicas = [replace(r, started_at=NOW - 3600) for r in ev.replicas]
    ev.config_changes = [ConfigChange(NOW - 420, "configmap/ecommerce-backend-config", "config",
                                      "configmap/ecommerce-backend-config written by kubectl-patch (Update)")]
    assert decide(ev, PROFILE).kind != CONFIGURATION_PROBLEM
    ev.replicas = [replace(r, started_at=NOW - 400) for r in ev.replicas]  # started on it: it may well be
    assert decide(ev, PROFILE).kind == CONFIGURATION_PROBLEM
