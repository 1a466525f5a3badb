"""The configuration rule on the fake API (issue 21): a ConfigMap the pods were restarted on and have served on for
a minute and a half is not what makes one of them not ready afterwards (the ticket-office bench's misdiagnosis of
``dependency-latency``, as a cluster shows it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.blind import Cluster, settled_cluster
from gameday.diagnose.rules import CONFIGURATION_PROBLEM, NO_OUTAGE, UNKNOWN
from tests.kubernetes.conftest import wait_for


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A settled fake cluster of this test's own (:func:`bench.blind.settled_cluster`)."""
    with settled_cluster(tmp_path) as settled:
        yield settled
        assert not settled.fake.errors, "fake API server reported internal errors:\n" + "\n".join(settled.fake.errors)


def test_a_pod_failing_a_minute_after_the_configmap_it_serves_on_is_not_the_config(cluster: Cluster):
    hands = cluster.hands
    name = hands.kube.configmap
    data = json.loads(hands.kubectl("get", "configmap", name, "-o", "json")).get("data") or {}
    hands.kubectl("patch", "configmap", name, "--type", "merge", "-p", json.dumps({"data": data}))  # written again
    hands.rollout_restart()
    wait_for(cluster.rollout_complete, 15, message="the restart rolled out")
    cluster.fake.age(92)  # the pods have served on it since, as in the bench
    assert cluster.diagnose()[0] == NO_OUTAGE
    running = [r for r in cluster.target.replicas() if r.ready]  # the restart's pods (not one still terminating)
    assert len(running) == 3 and all(r.restarts == 0 for r in running), running
    failing = running[1].name
    # its readiness answers 503 (a probe that fails, not one that times out); nothing else changes
    cluster.fake.kubelet.add_readiness_check(lambda pod, _: pod["metadata"]["name"] != failing, "one-pod-503")
    wait_for(lambda: [r.name for r in cluster.target.replicas() if not r.ready] == [failing], 15,
             message=f"{failing} not ready")
    verdict, summary = cluster.diagnose()
    assert verdict != CONFIGURATION_PROBLEM, summary
    assert verdict == UNKNOWN, summary
