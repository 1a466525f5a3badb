"""gameday's fault vocabulary on the kubernetes target: inject/undo with the ledger, abort, and safety."""

# ruff: noqa: F811  (pytest fixtures imported from driver_support are redefined as test arguments)
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gameday import faults
from gameday.config import Settings, use_settings
from gameday.errors import SafetyError
from gameday.ledger import Ledger
from gameday.state import StateDir
from gameday.targets import from_identity, get_target
from gameday.targets.kubernetes.policies import freeze_policy_name, hang_policy_name
from gameday.targets.kubernetes.target import KubernetesTarget
from tests.fakekube import FakeKube

from .conftest import BACKEND, CONFIGMAP, KubeTarget, wait_for
from .driver_support import (  # noqa: F401 (fixtures)
    MUTATING,
    backend_ok,
    gameday_cli,
    gameday_policies,
    k8s_settings,
    kube_flags,
    not_on_kubernetes,
    settings_for,
    snapshot,
    target,
    wait_backend_ok,
)

pytestmark = pytest.mark.kubernetes


def sts_replicas(kube: KubeTarget, name: str) -> int:
    return kube.apps().read_namespaced_stateful_set(name, kube.namespace).spec.replicas


def backend_image(kube: KubeTarget) -> str:
    return kube.apps().read_namespaced_deployment(BACKEND, kube.namespace).spec.template.spec.containers[0].image


def config_data(kube: KubeTarget) -> dict[str, str]:
    return kube.core().read_namespaced_config_map(CONFIGMAP, kube.namespace).data


def pods(kube: KubeTarget) -> set[str]:
    items = kube.core().list_namespaced_pod(kube.namespace, label_selector=f"app={BACKEND}").items
    return {p.metadata.name for p in items if p.metadata.deletion_timestamp is None}


def any_not_ready(kube: KubeTarget) -> bool:
    items = kube.core().list_namespaced_pod(kube.namespace, label_selector=f"app={BACKEND}").items
    return any(not any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []) for p in items)


@dataclass(frozen=True)
class Before:
    """What a fault's effect is judged against, seen before the inject: the backend's pod names, and the uid of every
    pod of the namespace (a StatefulSet's pod keeps its name when it is made anew: only its uid tells)."""

    backend: set[str]
    uids: dict[str, str]


def before_fault(kube: KubeTarget) -> Before:
    """The pods as they are now (uid -> name)."""
    items = kube.core().list_namespaced_pod(kube.namespace).items
    return Before(pods(kube), {p.metadata.uid: p.metadata.name for p in items})


def restarted(kube: KubeTarget, dependency: str, before: Before) -> bool:
    """Every pod of the dependency's StatefulSet was made anew since ``before`` (none of its uids is left), and it is
    back at one ready replica: its replica count alone is the same whether it restarted or not."""
    sts = kube.apps().read_namespaced_stateful_set(dependency, kube.namespace)
    selector = ",".join(f"{k}={v}" for k, v in sorted((sts.spec.selector.match_labels or {}).items()))
    items = [p for p in kube.core().list_namespaced_pod(kube.namespace, label_selector=selector).items
             if p.metadata.deletion_timestamp is None]
    return (bool(items) and not {p.metadata.uid for p in items} & before.uids.keys()
            and sts.spec.replicas == 1 and (sts.status.ready_replicas or 0) == 1)


# fault -> (params, check that it took effect)
EFFECTS: dict[str, tuple[dict[str, Any], Callable[[KubeTarget, KubernetesTarget, Before], bool]]] = {
    "kill-replicas": ({}, lambda kube, t, before: not before.backend & pods(kube)),
    "freeze-replicas": ({}, lambda kube, t, before: gameday_policies(kube) == [freeze_policy_name(BACKEND)]
                        and {(r.phase, r.ready) for r in t.replicas()} == {("Running", False)}),
    "bad-release": ({}, lambda kube, t, before: backend_image(kube).endswith(":1.5.0-broken")),
    "bad-config": ({}, lambda kube, t, before: config_data(kube)["DB_HOST"] == "postgres-typo"
                   and not before.backend & pods(kube)),
    "stop-dependency": ({"dependency": "postgres"}, lambda kube, t, before: sts_replicas(kube, "postgres") == 0),
    "hang-dependency": ({"dependency": "kafka"}, lambda kube, t, before: gameday_policies(kube)
                        == [hang_policy_name("kafka")]),
    # the network faults: a NetworkChaos each (the fake serves Chaos Mesh's API; test_network_faults_k8s.py)
    **{fault: (params, lambda kube, t, before, fault=fault, dep=params["dependency"]: network_chaos(kube)
               == [f"gameday-{fault}-{dep}"])
       for fault, params in (("dependency-latency", {"dependency": "postgres", "ms": 200}),
                             ("dependency-blackhole", {"dependency": "redis"}),
                             ("dependency-flaky", {"dependency": "redis"}),
                             ("dependency-partition", {"dependency": "kafka"}),
                             ("dependency-bandwidth", {"dependency": "postgres"}))},
    # a failover: stopped and started again within the inject, so what is seen after it is PostgreSQL back, in a
    # pod made anew
    "restart-dependency": ({"dependency": "postgres"}, lambda kube, t, before: restarted(kube, "postgres", before)),
}


def network_chaos(kube: KubeTarget) -> list[str]:
    """Names of the NetworkChaos objects in the namespace."""
    from kubernetes import client

    listed = client.CustomObjectsApi(kube.client()).list_namespaced_custom_object(
        "chaos-mesh.org", "v1alpha1", kube.namespace, "networkchaos")
    return sorted(o["metadata"]["name"] for o in listed["items"])


def test_every_fault_is_covered() -> None:
    skipped = not_on_kubernetes()
    assert skipped == {"exhaust-connections", "rotate-credentials"}  # they need a superuser session (local only)
    assert set(EFFECTS) | skipped == set(faults.FAULTS) and not set(EFFECTS) & skipped


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_fault_inject_and_undo_with_the_ledger(name: str, target: KubernetesTarget, kube: KubeTarget,
                                               k8s_settings: Settings) -> None:
    params, took_effect = EFFECTS[name]
    ledger = Ledger(StateDir(k8s_settings.state_dir).ensure().ledger)
    before = before_fault(kube)
    before_config, before_image = config_data(kube), backend_image(kube)
    entry = faults.inject(target, ledger, name, params)
    assert entry.state == "injected" and entry.target == target.identity()
    [recorded] = ledger.entries()
    assert (recorded.id, recorded.fault, recorded.target["kind"]) == (entry.id, name, "kubernetes")
    wait_for(lambda: took_effect(kube, target, before), 20, message=f"{name} in effect")
    # undo from the ledger entry alone, as another process would
    faults.undo(from_identity(recorded.target, k8s_settings), ledger, recorded)
    assert ledger.empty()
    assert gameday_policies(kube) == []
    assert config_data(kube) == before_config and backend_image(kube) == before_image
    assert {sts_replicas(kube, d) for d in ("postgres", "redis", "kafka")} == {1}
    wait_backend_ok(kube)
    # undo is idempotent: a second one on a healthy target changes nothing
    again = ledger.add(faults.LedgerEntry(fault=name, params=params, target=target.identity(), undo=recorded.undo))
    faults.undo(target, ledger, again)
    assert ledger.empty() and backend_ok(kube)


def test_the_restart_check_fails_when_the_dependency_did_not_restart(target: KubernetesTarget,
                                                                     kube: KubeTarget) -> None:
    """PostgreSQL back at one ready replica is what a restart that did nothing leaves too: the check must tell."""
    _, took_effect = EFFECTS["restart-dependency"]
    before = before_fault(kube)
    target.start_dependency("postgres", wait=True, timeout=15)  # running already: left as is, nothing restarted
    assert sts_replicas(kube, "postgres") == 1 and not took_effect(kube, target, before)
    target.stop_dependency("redis")  # another dependency restarted
    target.start_dependency("redis", wait=True, timeout=15)
    assert not took_effect(kube, target, before)
    assert restarted(kube, "redis", before)


def test_a_start_after_a_stop_waits_for_the_controller_to_delete_the_pods(
        target: KubernetesTarget, kube: KubeTarget, requires_fake: FakeKube) -> None:
    """The StatefulSet controller deletes the pods of a workload scaled to zero when it next runs, as a real one
    does: scaled back before that, nothing would restart (restart-dependency's stop then start, at once). Here its
    controllers are held while the stop and the start are asked; the start waits for the pod to go, then scales."""
    before = before_fault(kube)
    started: list[BaseException | None] = []
    with requires_fake.controllers._pass_lock:  # no controller pass meanwhile
        target.stop_dependency("redis")
        worker = threading.Thread(target=lambda: started.append(_start(target, "redis")), daemon=True)
        worker.start()
        worker.join(1.0)
        assert worker.is_alive(), "started again while its pod still ran: scaled back before it was ever deleted"
    worker.join(20)
    assert started == [None]
    assert restarted(kube, "redis", before)


def _start(target: KubernetesTarget, name: str) -> BaseException | None:
    try:
        target.start_dependency(name, wait=True, timeout=15)
    except BaseException as exc:  # the test thread reports it
        return exc
    return None


def test_get_target_builds_the_kubernetes_target(k8s_settings: Settings) -> None:
    assert isinstance(get_target(k8s_settings), KubernetesTarget)


# -- abort after a killed run ----------------------------------------------------------------------------

def read_ledger(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / "ledger.json"
    return json.loads(path.read_text()) if path.exists() else []


def cluster_ledger(kube: KubeTarget) -> list[dict[str, Any]]:
    """The kubernetes target's ledger: one ConfigMap per entry in the namespace (docs/staging.md)."""
    found = kube.core().list_namespaced_config_map(kube.namespace, label_selector="gameday.io/ledger=entry")
    return [json.loads(cm.data["entry"]) for cm in found.items]


def test_abort_undoes_what_an_inject_left(scenario: KubeTarget, tmp_path: Path) -> None:
    kube = scenario
    state = tmp_path / "state"
    done = gameday_cli(*kube_flags(kube), "inject", "stop-dependency", "-p", "dependency=redis",
                       "--allow-production", state_dir=state)
    assert done.returncode == 0, done.stderr
    assert "injected stop-dependency" in done.stdout
    assert sts_replicas(kube, "redis") == 0
    assert read_ledger(state) == []  # nothing kept on the machine: the ledger is in the cluster
    [entry] = cluster_ledger(kube)
    assert entry["target"] == {"kind": "kubernetes", "context": kube.context, "namespace": kube.namespace,
                               "kubeconfig": kube.kubeconfig}
    # abort from another machine (state directory) needs only the kubeconfig
    aborted = gameday_cli(*kube_flags(kube), "abort", state_dir=tmp_path / "elsewhere")
    assert aborted.returncode == 0, aborted.stderr
    assert "undone: stop-dependency" in aborted.stdout
    assert cluster_ledger(kube) == []
    wait_for(lambda: (kube.apps().read_namespaced_stateful_set("redis", kube.namespace).status.ready_replicas or 0)
             == 1, 15, message="redis back")
    assert sts_replicas(kube, "redis") == 1


def test_abort_after_a_run_killed_with_sigkill(scenario: KubeTarget, tmp_path: Path) -> None:
    kube = scenario
    state = tmp_path / "state"
    binary = Path(sys.executable).parent / "gameday"
    env = {"GAMEDAY_STATE_DIR": str(state), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    proc = subprocess.Popen([str(binary), *kube_flags(kube), "inject", "kill-replicas", "-p", "rounds=100",
                             "-p", "interval=0.2", "--allow-production"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        before = pods(kube)
        wait_for(lambda: cluster_ledger(kube) and not before & pods(kube), 30, message="the kill loop running")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    [entry] = cluster_ledger(kube)
    assert entry["state"] == "applying"  # killed mid-fault: never marked injected, never undone
    aborted = gameday_cli(*kube_flags(kube), "abort", state_dir=state)
    assert aborted.returncode == 0, aborted.stderr
    assert cluster_ledger(kube) == []
    wait_backend_ok(kube)


def test_abort_with_an_empty_ledger(tmp_path: Path) -> None:
    done = gameday_cli("abort", state_dir=tmp_path / "state")
    assert done.returncode == 0 and "nothing to undo" in done.stdout


# -- safety --------------------------------------------------------------------------------------------

def mutations(fake: FakeKube) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in fake.requests if r["method"] in MUTATING]


def refused_everywhere(settings: Settings, kube: KubeTarget, fake: FakeKube, match: str) -> None:
    """Every fault, through faults.inject and through the driver's own mutating methods, refused unchanged."""
    use_settings(settings)
    driver = KubernetesTarget(settings)
    ledger = Ledger(StateDir(settings.state_dir).ensure().ledger)
    before = snapshot(kube)
    fake.http.requests.clear()
    for name, (params, _) in EFFECTS.items():
        with pytest.raises(SafetyError, match=match):
            faults.inject(driver, ledger, name, params)
    for call in (driver.terminate_replicas, driver.freeze_replicas, lambda: driver.deploy("1.5.0-broken"),
                 lambda: driver.apply_config({"DB_HOST": "x"}), lambda: driver.stop_dependency("redis"),
                 lambda: driver.hang_dependency("redis")):
        with pytest.raises(SafetyError, match=match):
            call()
    assert mutations(fake) == []
    assert ledger.empty()
    assert snapshot(kube) == before


def test_production_is_refused_without_the_explicit_flag(kube: KubeTarget, requires_fake: FakeKube,
                                                         k8s_settings: Settings, tmp_path: Path) -> None:
    settings = settings_for(kube, tmp_path / "s", allow_production=False)
    refused_everywhere(settings, kube, requires_fake, "namespace 'production' without an explicit flag")


def test_contexts_outside_the_allowlist_are_refused(kube: KubeTarget, requires_fake: FakeKube,
                                                    k8s_settings: Settings, tmp_path: Path) -> None:
    path = requires_fake.write_kubeconfig(tmp_path / "prod", context="prod-eu-1", namespace="production")
    settings = settings_for(kube, tmp_path / "s", allowed_contexts=["kind-gameday", "fake-kube"])
    settings.kubernetes = settings.kubernetes.model_copy(update={"kubeconfig": str(path), "context": "prod-eu-1"})
    refused_everywhere(settings, kube, requires_fake, "context 'prod-eu-1': not in the allowlist")


def test_namespaces_outside_the_allowlist_are_refused(kube: KubeTarget, requires_fake: FakeKube,
                                                      k8s_settings: Settings, tmp_path: Path) -> None:
    settings = settings_for(kube, tmp_path / "s", allowed_namespaces=["staging", "gameday"])
    refused_everywhere(settings, kube, requires_fake, "namespace 'production': not in the allowlist")


def test_the_cli_refuses_production_before_any_change(kube: KubeTarget, requires_fake: FakeKube,
                                                      tmp_path: Path) -> None:
    before = snapshot(kube)
    requires_fake.http.requests.clear()
    done = gameday_cli(*kube_flags(kube), "inject", "kill-replicas", state_dir=tmp_path / "state")
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to inject into namespace 'production'" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert mutations(requires_fake) == [] and snapshot(kube) == before
    assert read_ledger(tmp_path / "state") == []


def test_the_cli_refuses_an_unlisted_context(kube: KubeTarget, requires_fake: FakeKube, tmp_path: Path) -> None:
    path = requires_fake.write_kubeconfig(tmp_path / "other", context="someone-elses-cluster")
    before = snapshot(kube)
    requires_fake.http.requests.clear()
    done = gameday_cli("--target", "kubernetes", "--kubeconfig", str(path), "inject", "stop-dependency",
                       "-p", "dependency=postgres", "--allow-production", state_dir=tmp_path / "state")
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "context 'someone-elses-cluster': not in the allowlist" in done.stderr
    assert mutations(requires_fake) == [] and snapshot(kube) == before
