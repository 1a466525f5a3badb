"""Fixtures and helpers shared by the kubernetes driver tests (this module holds no tests).

``k8s_settings``: gameday settings selecting the ``kube`` fixture's cluster (context and namespace
allowlisted, ``production`` allowed), installed as the process's settings for the test.
``target``: a :class:`KubernetesTarget` on the shared scenario; afterwards everything gameday may have
left (its NetworkPolicies, frozen labels, a stopped dependency, a changed configuration) is put back
before the conftest's ``scenario`` restore checks the baseline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gameday import config as gameday_config
from gameday import faults
from gameday.config import KubernetesSettings, SafetySettings, Settings, use_settings
from gameday.profile import DEFAULT_PROFILE
from gameday.profile import load as load_profile
from gameday.targets.kubernetes.policies import FROZEN_LABEL, MANAGED_BY
from gameday.targets.kubernetes.target import REPLICAS_BEFORE_STOP, KubernetesTarget

from .conftest import BACKEND, CONFIGMAP, DEPENDENCIES, Baseline, KubeTarget, backend_healthy, wait_for

MUTATING = ("POST", "PUT", "PATCH", "DELETE")
GAMEDAY_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


def settings_for(kube: KubeTarget, state_dir: Path, **safety: Any) -> Settings:
    """Settings selecting ``kube``'s cluster; the safety allowlist includes it unless ``safety`` says otherwise."""
    defaults = SafetySettings()
    allow = {
        "allowed_contexts": [*defaults.allowed_contexts, kube.context],
        "allowed_namespaces": [*defaults.allowed_namespaces, kube.namespace],
        "allow_production": True,
        **safety,
    }
    return Settings(
        target="kubernetes",
        state_dir=state_dir,
        kubernetes=KubernetesSettings(kubeconfig=kube.kubeconfig, context=kube.context, namespace=kube.namespace),
        safety=SafetySettings(**allow),
    )


@pytest.fixture
def k8s_settings(kube: KubeTarget, tmp_path: Path) -> Iterator[Settings]:
    """The process's settings for this test (restored afterwards)."""
    saved = list(gameday_config._current)
    settings = use_settings(settings_for(kube, tmp_path / "state"))
    try:
        yield settings
    finally:
        gameday_config._current[:] = saved


def gameday_policies(kube: KubeTarget) -> list[str]:
    """Names of the NetworkPolicies gameday created in the namespace."""
    net = client.NetworkingV1Api(kube.client())
    return sorted(p.metadata.name for p in net.list_namespaced_network_policy(
        kube.namespace, label_selector=GAMEDAY_SELECTOR).items)


def put_back(kube: KubeTarget, baseline: Baseline) -> None:
    """Undo whatever a failed test left that the conftest's restore does not know about."""
    core, apps = kube.core(), kube.apps()
    net = client.NetworkingV1Api(kube.client())
    ns = kube.namespace
    for name in gameday_policies(kube):
        net.delete_namespaced_network_policy(name, ns)
    for pod in core.list_namespaced_pod(ns, label_selector=FROZEN_LABEL).items:
        core.patch_namespaced_pod(pod.metadata.name, ns, {"metadata": {"labels": {FROZEN_LABEL: None}}})
    for name in DEPENDENCIES:
        sts = apps.read_namespaced_stateful_set(name, ns)
        if REPLICAS_BEFORE_STOP in (sts.metadata.annotations or {}):
            apps.patch_namespaced_stateful_set(name, ns, {"metadata": {"annotations": {REPLICAS_BEFORE_STOP: None}}})
    cm = core.read_namespaced_config_map(CONFIGMAP, ns)
    if (cm.data or {}) != baseline.config_data:
        # the pods started on the changed configuration: restore it and restart them onto it
        core.patch_namespaced_config_map(CONFIGMAP, ns, {"data": {
            **{k: None for k in cm.data or {}}, **baseline.config_data}})
        apps.patch_namespaced_deployment(BACKEND, ns, {"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "put-back"}}}}})


@pytest.fixture
def target(scenario: KubeTarget, baseline: Baseline, k8s_settings: Settings) -> Iterator[KubernetesTarget]:
    """The driver on the shared scenario; everything put back afterwards."""
    driver = KubernetesTarget(k8s_settings)
    try:
        yield driver
    finally:
        driver.client.close()
        put_back(scenario, baseline)


def backend_ok(kube: KubeTarget) -> bool:
    """The backend fully rolled out with 3 ready pods."""
    return backend_healthy(kube, 3)


def wait_backend_ok(kube: KubeTarget, timeout: float = 30.0) -> None:
    wait_for(lambda: backend_ok(kube), timeout, message="ecommerce-backend healthy")


def snapshot(kube: KubeTarget) -> dict[str, Any]:
    """What a fault would change: configuration, deployment template/replicas, workloads, policies, pods."""
    core, apps = kube.core(), kube.apps()
    net = client.NetworkingV1Api(kube.client())
    ns = kube.namespace
    d = apps.read_namespaced_deployment(BACKEND, ns)
    return {
        "config": core.read_namespaced_config_map(CONFIGMAP, ns).data,
        "deployment": (d.metadata.generation, d.spec.replicas, d.spec.paused,
                       client.ApiClient().sanitize_for_serialization(d.spec.template)),
        "dependencies": {n: apps.read_namespaced_stateful_set(n, ns).spec.replicas for n in DEPENDENCIES},
        "policies": sorted(p.metadata.name for p in net.list_namespaced_network_policy(ns).items),
        "pods": sorted((p.metadata.name, tuple(sorted((p.metadata.labels or {}).items())))
                       for p in core.list_namespaced_pod(ns).items),
    }


def gameday_cli(*args: str, state_dir: Path, env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the ``gameday`` command of this virtualenv with its own state directory."""
    binary = Path(sys.executable).parent / "gameday"
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("KUBECONFIG", "TARGET", "CONTEXT", "NAMESPACE") and not k.startswith("GAMEDAY_")}
    full_env.update({"GAMEDAY_STATE_DIR": str(state_dir), **(env or {})})
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout, env=full_env,
                          check=False)


def kube_flags(kube: KubeTarget) -> list[str]:
    """The CLI's global options selecting ``kube``'s cluster."""
    return ["--target", "kubernetes", "--kubeconfig", kube.kubeconfig, "--context", kube.context,
            "--namespace", kube.namespace]


def not_on_kubernetes() -> set[str]:
    """The faults that say, for the reference service's PostgreSQL, they cannot be tried on a cluster (the
    experiment is skipped with the reason): what the cluster tests need not inject."""
    profile = load_profile(DEFAULT_PROFILE)
    return {name for name, fault in faults.FAULTS.items()
            if fault.not_applicable({"dependency": "postgres"}, profile, "kubernetes")}
