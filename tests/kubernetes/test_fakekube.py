"""The fake API server itself: lifecycle (fast start, clean stop), the standalone entry point, and
unit tests of its patch/selector/hash helpers."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import pytest
import yaml

from tests.fakekube import FakeKube
from tests.fakekube import errors as fk_errors
from tests.fakekube.defaults import template_hash, templates_equal
from tests.fakekube.patch import merge_patch, strategic_merge_patch
from tests.fakekube.resources import BY_KEY
from tests.fakekube.selectors import labels_match, parse_label_selector
from tests.fakekube.store import Store

from .conftest import KubeTarget, wait_for

pytestmark = pytest.mark.kubernetes

REPO = Path(__file__).resolve().parents[2]


def fakekube_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fakekube")]


def test_starts_fast_and_stops_without_leftovers(tmp_path: Path) -> None:
    before = set(fakekube_threads())
    started = time.monotonic()
    fake = FakeKube.start()
    assert time.monotonic() - started < 1.0
    port = fake.port
    try:
        fake.seed_ecommerce("production")
        pod = fake.list("pods", "production", "app=ecommerce-backend")[0]["metadata"]["name"]
        # leave a watch and a log follow open: stop() must still end them
        watch = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        watch.request("GET", "/api/v1/namespaces/production/pods?watch=true")
        assert watch.getresponse().status == 200
        follow = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        follow.request("GET", f"/api/v1/namespaces/production/pods/{pod}/log?follow=true")
        assert follow.getresponse().status == 200
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # keep-alive, idle
        idle.request("GET", "/version")
        idle.getresponse().read()
    finally:
        stopping = time.monotonic()
        fake.stop()
    assert time.monotonic() - stopping < 3.0
    assert set(fakekube_threads()) <= before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    for conn in (watch, follow, idle):
        conn.close()


def test_kubectl_version_over_plain_http(kube: KubeTarget) -> None:
    if kube.api is None:
        pytest.skip("fake only")
    out = kube.kubectl("version").stdout
    assert "Server Version: v1.37.1-fakekube" in out
    config = yaml.safe_load(Path(kube.kubeconfig).read_text())
    assert config["clusters"][0]["cluster"]["server"].startswith("http://127.0.0.1:")
    assert config["current-context"] == kube.context == "fake-kube"
    assert config["contexts"][0]["context"]["namespace"] == "production"


def test_standalone_entry_point(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakekube", "--port", "0", "--kubeconfig", str(kubeconfig), "--seed"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", "/apis/apps/v1/namespaces/production/deployments/ecommerce-backend")
        body = json.loads(conn.getresponse().read())
        conn.close()
        assert body["status"]["availableReplicas"] == 3  # --seed waited for the rollout
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


# -- helpers (no server) ---------------------------------------------------------------------------


def test_label_selector_parsing() -> None:
    labels = {"app": "web", "tier": "front", "version": "3"}
    cases = {
        "app=web": True,
        "app==web": True,
        "app!=web": False,
        "tier in (front, back)": True,
        "tier notin (front)": False,
        "canary": False,
        "!canary": True,
        "app,tier": True,
        "app=web,tier in (back)": False,
        "version>2": True,
        "version<3": False,
        "": True,
    }
    for text, expected in cases.items():
        assert labels_match(parse_label_selector(text), labels) is expected, text
    with pytest.raises(fk_errors.ApiError) as exc:
        parse_label_selector("app in web")
    assert exc.value.code == 400


def test_merge_patch_rfc7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    assert merge_patch(target, {"a": "z", "c": {"f": None}, "l": [3]}) == {
        "a": "z",
        "c": {"d": "e"},
        "l": [3],
    }


def test_strategic_merge_patch_directives() -> None:
    target = {
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "image": "a:1",
                    "env": [{"name": "X", "value": "1"}],
                    "ports": [{"containerPort": 80}],
                },
                {"name": "b", "image": "b:1"},
            ],
            "volumes": [{"name": "v1", "emptyDir": {}}],
            "finalizers": ["x"],
        }
    }
    patched = strategic_merge_patch(
        target,
        {
            "spec": {
                "containers": [
                    {"name": "b", "image": "b:2"},
                    {"name": "c", "image": "c:1"},
                    {"name": "a", "ports": [{"containerPort": 81}]},
                ],
                "volumes": [{"name": "v1", "$patch": "delete"}],
                "finalizers": ["y"],
            }
        },
    )
    assert [c["name"] for c in patched["spec"]["containers"]] == ["a", "b", "c"]
    assert patched["spec"]["containers"][0]["ports"] == [{"containerPort": 80}, {"containerPort": 81}]
    assert patched["spec"]["containers"][1]["image"] == "b:2"
    assert patched["spec"]["volumes"] == [] and patched["spec"]["finalizers"] == ["x", "y"]
    replaced = strategic_merge_patch(target, {"spec": {"containers": [{"$patch": "replace"}, {"name": "z"}]}})
    assert replaced["spec"]["containers"] == [{"name": "z"}]
    whole = strategic_merge_patch(target, {"spec": {"$patch": "replace", "x": 1}})
    assert whole == {"spec": {"x": 1}}
    ordered = strategic_merge_patch(
        target,
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "a", "image": "a:2"}],
            }
        },
    )
    assert [c["name"] for c in ordered["spec"]["containers"]] == ["b", "a"]
    removed = strategic_merge_patch(target, {"spec": {"$deleteFromPrimitiveList/finalizers": ["x"]}})
    assert removed["spec"]["finalizers"] == []


def test_template_normalisation() -> None:
    a = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
    b = {
        "metadata": {"labels": {"app": "x", "pod-template-hash": "abc"}, "creationTimestamp": None},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "i:1",
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                }
            ],
            "restartPolicy": "Always",
        },
    }
    assert templates_equal(a, b)
    assert template_hash(a) == template_hash(b)
    assert template_hash(a) != template_hash({**a, "spec": {"containers": [{"name": "c", "image": "i:2"}]}})
    assert set(template_hash(a)) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_watch_history_expires() -> None:
    store = Store()
    store._feed = deque(maxlen=3)
    rt = BY_KEY[("", "configmaps")]
    for i in range(6):
        store.create(rt, {"metadata": {"name": f"c{i}", "namespace": "x"}})
    _changes, ok = store.changes_since(1)
    assert not ok
    changes, ok = store.changes_since(4)
    assert ok and [c.rv for c in changes] == [5, 6]


def test_waits_poll_with_a_deadline() -> None:
    calls = []
    assert wait_for(lambda: calls.append(1) or len(calls) >= 3, timeout=2, interval=0.001)
    with pytest.raises(AssertionError):
        FakeKube.wait_for(lambda: False, timeout=0.05, interval=0.01)


def test_age_makes_what_the_cluster_recorded_older_and_nothing_else() -> None:
    """``age`` moves creation and start times, conditions, events, managedFields and log lines back; specs, labels,
    annotations and resourceVersions stay, and the controllers carry on (a new write is dated now)."""
    from tests.fakekube.timefmt import parse_time

    with FakeKube.start() as fake:
        fake.seed_ecommerce("production")
        pod = fake.list("pods", "production", label_selector="app=ecommerce-backend")[0]
        name = pod["metadata"]["name"]
        rs = fake.list("replicasets", "production")[0]
        fake.append_log("production", name, "hello")
        fake.age(3600)
        aged = fake.get("pods", name, "production") or {}
        for path in (("metadata", "creationTimestamp"), ("status", "startTime")):
            assert parse_time(aged[path[0]][path[1]]) == parse_time(pod[path[0]][path[1]]) - 3600
        assert aged["spec"] == pod["spec"] and aged["metadata"]["labels"] == pod["metadata"]["labels"]
        assert aged["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]
        events = fake.list("events", "production")
        assert events and all(parse_time(e["lastTimestamp"]) < time.time() - 3000 for e in events)
        stamped = fake.logs.lines("production", name, pod["spec"]["containers"][0]["name"], timestamps=True)
        assert stamped and all(parse_time(line.split(" ", 1)[0][:26] + "Z") < time.time() - 3000 for line in stamped)
        # the Deployment controller's writes are recorded as a real server records them: by manager, with the time
        entries = (fake.get("replicasets", rs["metadata"]["name"], "production") or {})["metadata"]["managedFields"]
        assert [e["manager"] for e in entries] == ["kube-controller-manager"]
        assert parse_time(entries[0]["time"]) < time.time() - 3000
        deployment = fake.get("deployments", "ecommerce-backend", "production") or {}
        deployment["spec"]["replicas"] = 2
        fake.api.update(BY_KEY[("apps", "deployments")], "production", "ecommerce-backend", deployment)
        fake.wait_for(lambda: (fake.get("replicasets", rs["metadata"]["name"], "production") or {})["spec"]["replicas"]
                      == 2, message="the ReplicaSet scaled")
        entries = (fake.get("replicasets", rs["metadata"]["name"], "production") or {})["metadata"]["managedFields"]
        assert parse_time(entries[0]["time"]) > time.time() - 60
