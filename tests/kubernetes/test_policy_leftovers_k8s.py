"""NetworkPolicies gameday writes when one of the same name is there already (left by a run that died, or by an older
gameday): the new spec, labels and annotations win whole, never a merge with the old ones.

:meth:`KubeClient.create_or_replace` on its own (a scratch namespace), then freeze-replicas and hang-dependency over a
leftover whose selector matches no pod: kept or merged, the fault would have no effect at all.
"""

# ruff: noqa: F811  (pytest fixtures imported from driver_support are redefined as test arguments)
from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from gameday.targets.kubernetes.client import KubeClient
from gameday.targets.kubernetes.policies import (
    FAULT_LABEL,
    FROZEN_LABEL,
    MANAGED_BY,
    freeze_policy_name,
    hang_policy_name,
)
from gameday.targets.kubernetes.target import KubernetesTarget

from .conftest import BACKEND, TEST_LABEL, KubeTarget, wait_for
from .driver_support import (  # noqa: F401 (fixtures)
    gameday_policies,
    k8s_settings,
    target,
)

pytestmark = pytest.mark.kubernetes

STALE = {"gameday.io/stale": "left-by-a-dead-run"}  # an extra selector label: the leftover selects no pod


def policy(name: str, labels: dict[str, str], match: dict[str, str], kinds: list[str]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "labels": labels, "annotations": {"note": name}},
            "spec": {"podSelector": {"matchLabels": match}, "policyTypes": kinds,
                     **{kind.lower(): [] for kind in kinds}}}


def read(kube: KubeTarget, name: str, namespace: str | None = None) -> client.V1NetworkPolicy:
    return client.NetworkingV1Api(kube.client()).read_namespaced_network_policy(name, namespace or kube.namespace)


def test_create_or_replace_creates_then_replaces_whole(kube: KubeTarget, scratch_namespace: str) -> None:
    kc = KubeClient(kube.kubeconfig, kube.context)
    net = kc.networking
    try:
        old = policy("p", {TEST_LABEL: "true", "old": "1"}, {"app": "x", **STALE}, ["Ingress", "Egress"])
        kc.create_or_replace("networkpolicy", net.create_namespaced_network_policy,
                             net.replace_namespaced_network_policy, scratch_namespace, old)
        assert read(kube, "p", scratch_namespace).spec.pod_selector.match_labels == {"app": "x", **STALE}
        new = policy("p", {TEST_LABEL: "true", "new": "1"}, {"app": "x"}, ["Ingress"])
        kc.create_or_replace("networkpolicy", net.create_namespaced_network_policy,
                             net.replace_namespaced_network_policy, scratch_namespace, new)
        got = read(kube, "p", scratch_namespace)
        assert got.spec.pod_selector.match_labels == {"app": "x"}  # a merge would keep the stale label
        assert got.spec.policy_types == ["Ingress"] and not got.spec.egress
        assert got.metadata.labels == {TEST_LABEL: "true", "new": "1"}

        # deleted by someone else between the create's 409 and the replace: created again
        def delete_then_replace(name: str, namespace: str, body: dict[str, Any], **kw: Any) -> Any:
            net.delete_namespaced_network_policy(name, namespace)
            delete_then_replace.calls += 1  # type: ignore[attr-defined]
            return net.replace_namespaced_network_policy(name, namespace, body, **kw)

        delete_then_replace.calls = 0  # type: ignore[attr-defined]
        kc.create_or_replace("networkpolicy", net.create_namespaced_network_policy, delete_then_replace,
                             scratch_namespace, old)
        assert delete_then_replace.calls == 1  # type: ignore[attr-defined]
        assert read(kube, "p", scratch_namespace).spec.pod_selector.match_labels == {"app": "x", **STALE}
    finally:
        kc.close()


def test_freeze_over_a_leftover_policy_takes_the_new_spec(target: KubernetesTarget, kube: KubeTarget) -> None:
    name = freeze_policy_name(BACKEND)
    client.NetworkingV1Api(kube.client()).create_namespaced_network_policy(kube.namespace, policy(
        name, {**MANAGED_BY}, {"app": BACKEND, FROZEN_LABEL: "true", **STALE}, ["Ingress"]))
    one = sorted(r.name for r in target.replicas())[0]
    assert target.freeze_replicas([one]) == [one]
    got = read(kube, name)
    assert got.spec.pod_selector.match_labels == {"app": BACKEND, FROZEN_LABEL: "true"}
    assert got.metadata.labels[FAULT_LABEL] == "freeze-replicas"
    if kube.is_fake:  # the leftover's selector matched no pod: only the new spec makes the frozen pod hang
        wait_for(lambda: {r.name: r.ready for r in target.replicas()}.get(one) is False,
                 message="the frozen pod not ready")
    assert target.thaw_replicas() == [one]
    assert gameday_policies(kube) == []


def test_hang_over_a_leftover_policy_takes_the_new_spec(target: KubernetesTarget, kube: KubeTarget) -> None:
    name = hang_policy_name("redis")
    client.NetworkingV1Api(kube.client()).create_namespaced_network_policy(kube.namespace, policy(
        name, {**MANAGED_BY}, {"app": BACKEND, **STALE}, ["Egress"]))
    target.hang_dependency("redis")
    got = read(kube, name)
    assert got.spec.pod_selector.match_labels == {"app": BACKEND}  # a strategic merge would keep STALE
    assert got.metadata.labels[FAULT_LABEL] == "hang-dependency"
    check = target.check_dependency("redis")
    assert not check.ok and name in check.detail
    target.release_dependency("redis")
    assert gameday_policies(kube) == []
