"""chaostoolkit-kubernetes (chaosk8s), unchanged, against the target.

chaosk8s builds its client with ``create_k8s_api_client(secrets)``: it loads the kubeconfig named
by the ``KUBECONFIG`` environment variable (else ``~/.kube/config``) and the context named by the
``KUBERNETES_CONTEXT`` secret. So each test points ``KUBECONFIG`` at the target's kubeconfig and
passes ``secrets={"KUBERNETES_CONTEXT": ...}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from chaosk8s.deployment.actions import rollout_deployment, scale_deployment
from chaosk8s.deployment.probes import deployment_available_and_healthy
from chaosk8s.networking.actions import deny_all_egress, remove_deny_all_egress
from chaosk8s.pod.actions import terminate_pods
from chaosk8s.pod.probes import pods_in_phase, read_pod_logs
from chaosk8s.statefulset.actions import scale_statefulset
from chaoslib.exceptions import ActivityFailed
from kubernetes import client
from kubernetes.config import kube_config as kube_config_module

from .conftest import BACKEND, KubeTarget, backend_healthy, wait_for

pytestmark = pytest.mark.kubernetes


@pytest.fixture
def chaos(scenario: KubeTarget, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Secrets for chaosk8s activities, with KUBECONFIG pointing at the target.

    ``kubernetes.config`` reads ``KUBECONFIG`` once, at import time, into
    ``KUBE_CONFIG_DEFAULT_LOCATION`` (which ``load_kube_config()`` falls back to), so an in-process
    caller must patch that constant as well; a ``chaos run`` subprocess only needs the variable.
    chaosk8s also installs the loaded configuration as the client's global default: restored after.
    """
    monkeypatch.setenv("KUBECONFIG", scenario.kubeconfig)
    monkeypatch.setattr(kube_config_module, "KUBE_CONFIG_DEFAULT_LOCATION", scenario.kubeconfig)
    saved = client.Configuration._default
    try:
        yield {"KUBERNETES_CONTEXT": scenario.context}
    finally:
        client.Configuration._default = saved


def pod_names(kube: KubeTarget, selector: str) -> set[str]:
    pods = kube.core().list_namespaced_pod(kube.namespace, label_selector=selector).items
    return {p.metadata.name for p in pods if p.metadata.deletion_timestamp is None}


def test_terminate_all_matching_pods(scenario: KubeTarget, chaos: dict[str, str]) -> None:
    kube = scenario
    before = pod_names(kube, f"app={BACKEND}")
    postgres = pod_names(kube, "app=postgres")
    deleted = terminate_pods(label_selector=f"app={BACKEND}", ns=kube.namespace, all=True, secrets=chaos)
    assert set(deleted) == before
    assert pod_names(kube, "app=postgres") == postgres  # the selector scoped the deletion
    wait_for(
        lambda: backend_healthy(kube, 3) and not before & pod_names(kube, f"app={BACKEND}"),
        message="all backend pods replaced",
    )


@pytest.mark.parametrize("rand", [False, True])
def test_terminate_one_pod(scenario: KubeTarget, chaos: dict[str, str], rand: bool) -> None:
    kube = scenario
    before = pod_names(kube, f"app={BACKEND}")
    deleted = terminate_pods(
        label_selector=f"app={BACKEND}", ns=kube.namespace, qty=1, rand=rand, secrets=chaos
    )
    assert len(deleted) == 1 and set(deleted) <= before
    wait_for(
        lambda: backend_healthy(kube, 3) and deleted[0] not in pod_names(kube, f"app={BACKEND}"),
        message="the terminated pod replaced",
    )
    assert len(before & pod_names(kube, f"app={BACKEND}")) == 2


def test_rollout_deployment(scenario: KubeTarget, chaos: dict[str, str]) -> None:
    kube = scenario
    before = pod_names(kube, f"app={BACKEND}")
    generation = kube.apps().read_namespaced_deployment(BACKEND, kube.namespace).metadata.generation
    rollout_deployment(name=BACKEND, ns=kube.namespace, secrets=chaos)
    d = kube.apps().read_namespaced_deployment(BACKEND, kube.namespace)
    assert d.metadata.generation == generation + 1
    assert "kubectl.kubernetes.io/restartedAt" in d.spec.template.metadata.annotations
    wait_for(
        lambda: backend_healthy(kube, 3) and not before & pod_names(kube, f"app={BACKEND}"),
        message="pods replaced by the rollout",
    )


def test_scale_deployment_and_health_probe(scenario: KubeTarget, chaos: dict[str, str]) -> None:
    kube = scenario
    assert deployment_available_and_healthy(BACKEND, ns=kube.namespace, secrets=chaos) is True
    scale_deployment(BACKEND, replicas=5, ns=kube.namespace, secrets=chaos)
    assert kube.apps().read_namespaced_deployment(BACKEND, kube.namespace).spec.replicas == 5
    wait_for(lambda: backend_healthy(kube, 5), message="5 replicas")
    assert (
        deployment_available_and_healthy(
            BACKEND, ns=kube.namespace, label_selector=f"app={BACKEND}", secrets=chaos
        )
        is True
    )
    with pytest.raises(ActivityFailed):
        deployment_available_and_healthy("no-such-deployment", ns=kube.namespace, secrets=chaos)


def test_pods_in_phase(scenario: KubeTarget, chaos: dict[str, str]) -> None:
    kube = scenario
    assert pods_in_phase(f"app={BACKEND}", "Running", ns=kube.namespace, secrets=chaos) is True
    assert (
        pods_in_phase(
            f"app={BACKEND}", "Pending", ns=kube.namespace, raise_on_invalid_phase=False, secrets=chaos
        )
        is False
    )
    with pytest.raises(ActivityFailed):
        pods_in_phase("app=nothing-here", ns=kube.namespace, secrets=chaos)


def test_read_pod_logs(scenario: KubeTarget, chaos: dict[str, str]) -> None:
    kube = scenario
    logs = read_pod_logs(label_selector=f"app={BACKEND}", ns=kube.namespace, secrets=chaos)
    assert set(logs) == pod_names(kube, f"app={BACKEND}")
    if kube.is_fake:
        for text in logs.values():
            # chaosk8s asks for timestamps=true
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ", text)
            assert "ecommerce-backend 1.4.2 starting" in text


def test_dependency_outage_seen_by_probes(scenario: KubeTarget, chaos: dict[str, str]) -> None:
    kube = scenario
    if not kube.is_fake:
        pytest.skip("the backend's reaction to a postgres outage is simulated by the fake")
    scale_statefulset("postgres", replicas=0, ns=kube.namespace, secrets=chaos)
    wait_for(
        lambda: (
            not deployment_available_and_healthy(
                BACKEND, ns=kube.namespace, raise_on_unavailable=False, secrets=chaos
            )
        ),
        message="backend unhealthy",
    )
    assert pods_in_phase(f"app={BACKEND}", "Running", ns=kube.namespace, secrets=chaos)  # running, not ready
    logs = read_pod_logs(label_selector=f"app={BACKEND}", ns=kube.namespace, secrets=chaos)
    assert all("postgres: Connection refused" in text for text in logs.values())
    scale_statefulset("postgres", replicas=1, ns=kube.namespace, secrets=chaos)
    wait_for(
        lambda: deployment_available_and_healthy(
            BACKEND, ns=kube.namespace, raise_on_unavailable=False, secrets=chaos
        ),
        message="backend healthy again",
    )


def test_deny_all_egress(scenario: KubeTarget, chaos: dict[str, str]) -> None:
    kube = scenario
    if not kube.is_fake:
        pytest.skip("the backend's reaction to a NetworkPolicy is simulated by the fake")
    deny_all_egress(label_selectors={"app": BACKEND}, ns=kube.namespace, secrets=chaos)
    try:
        wait_for(
            lambda: (
                not deployment_available_and_healthy(
                    BACKEND, ns=kube.namespace, raise_on_unavailable=False, secrets=chaos
                )
            ),
            message="egress denied -> unhealthy",
        )
    finally:
        remove_deny_all_egress(ns=kube.namespace, secrets=chaos)
    wait_for(lambda: backend_healthy(kube, 3), message="healthy after the policy is removed")
