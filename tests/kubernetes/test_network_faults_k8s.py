"""Network faults on Kubernetes: Chaos Mesh NetworkChaos objects, a Toxiproxy in the namespace through the API
server's service proxy, or skipped with the reason; and stop-dependency cut at the service's side.

Each test runs on a private fake API server (``fresh_fake``): Chaos Mesh's API is switched off in some of them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from gameday import config as gameday_config
from gameday import faults
from gameday.chaos import lint
from gameday.config import Settings, use_settings
from gameday.diagnose import diagnose, load_runbook
from gameday.diagnose.rules import dependency_verdict
from gameday.ledger import Ledger
from gameday.profile import KubernetesToxiproxy
from gameday.targets.kubernetes import chaosmesh
from gameday.targets.kubernetes.policies import hang_policy_name
from gameday.targets.kubernetes.target import KubernetesTarget
from gameday.targets.model import NotApplicableError

from .conftest import BACKEND, KubeTarget, wait_for
from .driver_support import settings_for

pytestmark = pytest.mark.kubernetes

GROUP, VERSION, PLURAL = chaosmesh.GROUP, chaosmesh.VERSION, chaosmesh.PLURAL

# fault, params -> (action, the spec's action parameters)
NETWORK_FAULTS: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("dependency-latency", {"dependency": "postgres", "ms": 300, "jitter": 50}, "delay",
     {"delay": {"latency": "300ms", "jitter": "50ms", "correlation": "0"}}),
    ("dependency-blackhole", {"dependency": "postgres"}, "loss", {"loss": {"loss": "100", "correlation": "0"}}),
    ("dependency-flaky", {"dependency": "redis", "fraction": 0.1}, "loss",
     {"loss": {"loss": "10", "correlation": "0"}}),
    ("dependency-partition", {"dependency": "kafka"}, "partition", {}),
    ("dependency-bandwidth", {"dependency": "postgres", "rate": 64}, "bandwidth",
     {"bandwidth": {"rate": "64kbps", "limit": 64000, "buffer": 6400}}),
]


@pytest.fixture
def settings(fresh_fake: KubeTarget, tmp_path: Path) -> Iterator[Settings]:
    """The process's settings for this test on the private fake (the service reached through its service proxy)."""
    assert fresh_fake.api is not None
    saved = list(gameday_config._current)
    chosen = settings_for(fresh_fake, tmp_path / "state")
    chosen.kubernetes.base_url = (f"{fresh_fake.api.url}/api/v1/namespaces/{fresh_fake.namespace}/services/"
                                  f"{BACKEND}:80/proxy")
    try:
        yield use_settings(chosen)
    finally:
        gameday_config._current[:] = saved


def chaos_objects(kube: KubeTarget) -> list[dict[str, Any]]:
    return client.CustomObjectsApi(kube.client()).list_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, PLURAL)["items"]


def test_each_network_fault_is_a_networkchaos_injected_then_deleted(fresh_fake: KubeTarget, settings: Settings,
                                                                     tmp_path: Path) -> None:
    """The real schema's fields (selector, mode all, direction to, target by the dependency's labels, no duration),
    labels naming the fault and the run; inject returns once Chaos Mesh reports AllInjected; undo deletes it."""
    target = KubernetesTarget(settings)
    ledger = Ledger(tmp_path / "ledger.json")
    for fault, params, action, tc in NETWORK_FAULTS:
        entry = faults.inject(target, ledger, fault, params, profile=settings.service)
        [obj] = chaos_objects(fresh_fake)
        spec, meta = obj["spec"], obj["metadata"]
        dependency = params["dependency"]
        assert meta["name"] == f"gameday-{fault}-{dependency}"
        assert meta["labels"]["gameday.io/fault"] == fault and meta["labels"]["gameday.io/dependency"] == dependency
        assert meta["labels"][chaosmesh.RUN_LABEL] == chaosmesh.run_label()
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "gameday"
        assert spec["action"] == action and spec["mode"] == "all" and spec["direction"] == "to"
        assert "duration" not in spec
        assert spec["selector"] == {"namespaces": [fresh_fake.namespace], "labelSelectors": {"app": BACKEND}}
        assert spec["target"] == {"mode": "all", "selector": {"namespaces": [fresh_fake.namespace],
                                                              "labelSelectors": {"app": dependency}}}
        assert {k: spec[k] for k in tc} == tc
        assert chaosmesh.injected(obj)[0], obj.get("status")  # waited for before inject returned
        if fault == "dependency-flaky":
            assert "no TCP reset" in meta["annotations"][chaosmesh.APPROXIMATES]
        faults.undo(target, ledger, entry)
        assert chaos_objects(fresh_fake) == [], fault
    assert ledger.empty()


def test_a_partitioned_or_blackholed_postgres_makes_the_backend_time_out(fresh_fake: KubeTarget,
                                                                         settings: Settings) -> None:
    """The fake's pods feel the NetworkChaos: postgres unreachable from the backend, so it is not ready and logs
    the timeouts; lifting it brings the backend back."""
    target = KubernetesTarget(settings)
    core = fresh_fake.core()

    def ready() -> list[bool]:
        pods = core.list_namespaced_pod(fresh_fake.namespace, label_selector=f"app={BACKEND}").items
        return [any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []) for p in pods]

    target.set_dependency_link("postgres", enabled=False)
    wait_for(lambda: not any(ready()), 10, message="backend not ready under the partition")
    assert any("postgres" in line and "timed out" in line for line in target.logs(tail=50))
    target.set_dependency_link("postgres", enabled=True)
    wait_for(lambda: all(ready()), 10, message="backend ready again")


@pytest.mark.parametrize("fault", ["dependency-blackhole", "dependency-partition"])
def test_postgres_cut_off_by_chaos_mesh_is_diagnosed_as_hanging(fresh_fake: KubeTarget, settings: Settings,
                                                                tmp_path: Path, fault: str) -> None:
    """Chaos Mesh drops the packets (loss 100%, partition): the step-3 check from the backend's side times out, and
    the diagnosis names postgres as hanging, from that evidence alone (its rules read no label of gameday's)."""
    target = KubernetesTarget(settings)
    ledger = Ledger(tmp_path / "ledger.json")
    entry = faults.inject(target, ledger, fault, {"dependency": "postgres"}, profile=settings.service)
    try:
        check = target.check_dependency("postgres")
        result = diagnose(target, settings.service, load_runbook())
    finally:
        faults.undo(target, ledger, entry)
    assert not check.ok and "timed out" in check.detail, check
    assert result.verdict.key == dependency_verdict(settings.service, "postgres", hung=True), result.verdict
    # and the game day on this cluster expects it so (a refusal's verdict is expected only from a Toxiproxy)
    assert result.verdict.scored == faults.get_fault(fault).expected_verdict(
        {"dependency": "postgres"}, settings.service, "kubernetes"), result.verdict


def test_without_chaos_mesh_or_toxiproxy_the_fault_is_skipped_with_the_reason(fresh_fake: KubeTarget,
                                                                              settings: Settings) -> None:
    assert fresh_fake.api is not None
    fresh_fake.api.set_chaos_mesh(False)
    reason = _latency_skipped(settings)
    assert reason == (f"neither Chaos Mesh (no chaos-mesh.org API) nor a Toxiproxy in namespace "
                      f"{fresh_fake.namespace}")
    with pytest.raises(NotApplicableError, match="neither Chaos Mesh"):
        KubernetesTarget(settings).add_toxic("postgres", {"name": "gameday-dependency-latency", "type": "latency",
                                                          "attributes": {"latency": 100}})
    fresh_fake.api.set_chaos_mesh(True)
    assert _latency_skipped(settings) is None


def _latency_skipped(settings: Settings) -> str | None:
    """Why an experiment injecting dependency-latency on postgres is skipped on the cluster ``settings`` name."""
    experiment = {"method": [{"type": "action", "name": "inject", "provider": {
        "type": "python", "module": "gameday.chaos.actions", "func": "inject_fault",
        "arguments": {"fault": "dependency-latency", "params": {"dependency": "postgres"}}}}]}
    return lint.not_applicable(experiment, settings.service, "kubernetes", settings)


@pytest.fixture
def toxiproxy_server() -> Iterator[str]:
    """A real fault proxy (Toxiproxy's API) on loopback: ``python -m gameday.proxy --port 0``."""
    proc = subprocess.Popen([sys.executable, "-m", "gameday.proxy", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://(127\.0\.0\.1:\d+)", line)
        assert match, line
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_toxiproxy_in_the_namespace_is_driven_through_the_service_proxy(fresh_fake: KubeTarget,
                                                                          settings: Settings,
                                                                          toxiproxy_server: str,
                                                                          tmp_path: Path) -> None:
    """The profile names a Toxiproxy (kubernetes.toxiproxy): the same toxics as the local target, through
    /api/v1/namespaces/NS/services/toxiproxy:8474/proxy/...; Chaos Mesh is not needed."""
    assert fresh_fake.api is not None
    fresh_fake.api.set_chaos_mesh(False)
    fresh_fake.api.map_service(fresh_fake.namespace, "toxiproxy", toxiproxy_server)
    direct = f"http://{toxiproxy_server}"
    httpx.post(f"{direct}/proxies", json={"name": "pg", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:5432"},
               timeout=5).raise_for_status()
    profile = settings.service
    assert profile.kubernetes is not None
    settings.__dict__["service"] = profile.model_copy(update={"kubernetes": profile.kubernetes.model_copy(
        update={"toxiproxy": KubernetesToxiproxy(service="toxiproxy", port=8474, proxies={"postgres": "pg"})})})
    target = KubernetesTarget(settings)
    ledger = Ledger(tmp_path / "ledger.json")
    assert _latency_skipped(settings) is None
    entry = faults.inject(target, ledger, "dependency-latency", {"dependency": "postgres", "ms": 250},
                          profile=settings.service)
    toxics = httpx.get(f"{direct}/proxies/pg/toxics", timeout=5).json()
    assert [(t["name"], t["type"], t["attributes"]["latency"]) for t in toxics] == [
        ("gameday-dependency-latency", "latency", 250)]
    faults.undo(target, ledger, entry)
    assert httpx.get(f"{direct}/proxies/pg/toxics", timeout=5).json() == []
    target.set_dependency_link("postgres", enabled=False)
    assert httpx.get(f"{direct}/proxies/pg", timeout=5).json()["enabled"] is False
    target.reset_network_faults()
    assert httpx.get(f"{direct}/proxies/pg", timeout=5).json()["enabled"] is True


def test_stop_dependency_on_a_shared_dependency_denies_egress_and_never_scales(fresh_fake: KubeTarget,
                                                                               settings: Settings,
                                                                               tmp_path: Path) -> None:
    """postgres is not the team's own (no ``owned: true``): its StatefulSet keeps its replica, a NetworkPolicy cuts
    the backend's egress to it, and the diagnosis names it from the backend's side of the network: as a hang, since
    a network plugin drops what a policy denies (the backend's connections time out, nothing refuses them)."""
    apps = fresh_fake.apps()
    before = apps.read_namespaced_stateful_set("postgres", fresh_fake.namespace).spec.replicas
    profile = settings.service
    shared = [d.model_copy(update={"owned": False}) if d.name == "postgres" else d for d in profile.dependencies]
    settings.__dict__["service"] = profile.model_copy(update={"dependencies": shared})
    target = KubernetesTarget(settings)
    ledger = Ledger(tmp_path / "ledger.json")
    entry = faults.inject(target, ledger, "stop-dependency", {"dependency": "postgres"}, profile=settings.service)
    net = client.NetworkingV1Api(fresh_fake.client())
    names = [p.metadata.name for p in net.list_namespaced_network_policy(fresh_fake.namespace).items]
    assert names == [hang_policy_name("postgres", "stop-dependency")] == ["gameday-stop-postgres"]
    policy = net.read_namespaced_network_policy("gameday-stop-postgres", fresh_fake.namespace)
    assert policy.metadata.labels["gameday.io/fault"] == "stop-dependency"
    assert apps.read_namespaced_stateful_set("postgres", fresh_fake.namespace).spec.replicas == before
    check = target.check_dependency("postgres")
    assert not check.ok and "gameday-stop-postgres" in check.detail
    result = diagnose(target, settings.service, load_runbook())
    assert result.verdict.dependency == "postgres", result.verdict
    assert result.verdict.key == dependency_verdict(settings.service, "postgres", hung=True), result.verdict
    # the game day expects what on-call sees on a cluster: that verdict, not a refusal's
    expected = faults.get_fault("stop-dependency").expected_verdict({"dependency": "postgres"}, settings.service,
                                                                    "kubernetes")
    assert result.verdict.scored == expected, (result.verdict, expected)
    faults.undo(target, ledger, entry)
    assert net.list_namespaced_network_policy(fresh_fake.namespace).items == []
    assert apps.read_namespaced_stateful_set("postgres", fresh_fake.namespace).spec.replicas == before
