"""The Kubernetes canary's objects against the fake API server: the canary Deployment behind the same Service,
sized by replica ratio, promotion as the primary's next revision, rollback and undo leaving the primary's revision."""
# ruff: noqa: F811  (pytest fixtures imported from driver_support are redefined as test arguments)

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gameday.canary.run import Plan, run_canary
from gameday.errors import UsageError
from gameday.ledger import Ledger
from gameday.targets.base import TargetError
from gameday.targets.kubernetes import KubernetesTarget
from gameday.targets.kubernetes.canary import PRIMARY_REPLICAS, TRACK, KubernetesCanary

from .conftest import BACKEND, KubeTarget, wait_for
from .driver_support import k8s_settings, target, wait_backend_ok  # noqa: F401 (fixtures)

pytestmark = pytest.mark.kubernetes
CANARY = f"{BACKEND}-canary"


@pytest.fixture
def canary(target: KubernetesTarget, kube: KubeTarget) -> Iterator[KubernetesCanary]:
    driver = target.canary()
    assert isinstance(driver, KubernetesCanary)
    try:
        yield driver
    finally:
        target.canary().undo({"primary_replicas": 3}, timeout=30)  # whatever the test left
        wait_backend_ok(kube)


def deployments(kube: KubeTarget) -> dict[str, object]:
    return {d.metadata.name: d for d in kube.apps().list_namespaced_deployment(kube.namespace).items}


def service_backends(kube: KubeTarget) -> set[str]:
    endpoints = kube.core().read_namespaced_endpoints(BACKEND, kube.namespace)
    return {a.target_ref.name for s in endpoints.subsets or [] for a in s.addresses or []}


def test_canary_deployment_behind_the_same_service_sized_by_ratio(target: KubernetesTarget, kube: KubeTarget,
                                                                  canary: KubernetesCanary) -> None:
    history = target.history()
    good = target.profile.local.releases[0]  # type: ignore[union-attr]
    canary.begin(good, "gameday canary test")
    pods = canary.set_canary_replicas(1, timeout=30)
    assert len(pods) == 1
    found = deployments(kube)
    primary, created = found[BACKEND], found[CANARY]
    assert created.spec.replicas == 1 and primary.spec.replicas == 2  # 1/3 of the pods: 1/3 of the traffic
    assert created.metadata.annotations[PRIMARY_REPLICAS] == "3"
    assert created.spec.selector.match_labels == {"app": BACKEND, TRACK: "canary"}
    assert created.spec.template.metadata.labels["app"] == BACKEND  # selected by the Service
    assert created.spec.template.spec.containers[0].image.endswith(f":{good}")
    assert primary.spec.template.spec.containers[0].image != created.spec.template.spec.containers[0].image
    wait_for(lambda: pods[0] in service_backends(kube), 15, message="the canary pod behind the Service")
    # the primary's ReplicaSets keep their own pods: its rollout history is untouched
    assert target.history() == history

    canary.set_canary_replicas(2, timeout=30)
    wait_for(lambda: deployments(kube)[BACKEND].spec.replicas == 1, 5, message="primary at 1/3")
    assert len(canary.served_new()) == 2

    back = canary.rollback(timeout=30)
    assert back.number == history[-1].number and back.version == history[-1].version
    assert CANARY not in deployments(kube)
    assert deployments(kube)[BACKEND].spec.replicas == 3
    assert target.history() == history


def test_promotion_is_the_primarys_next_revision(target: KubernetesTarget, kube: KubeTarget,
                                                 canary: KubernetesCanary) -> None:
    before = target.current_revision()
    assert before is not None
    good = target.profile.local.releases[0]  # type: ignore[union-attr]
    canary.begin(good, "gameday canary test")
    canary.set_canary_replicas(1, timeout=30)
    after = canary.promote(timeout=30)
    assert (after.number, after.version) == (before.number + 1, good)
    assert CANARY not in deployments(kube)
    assert deployments(kube)[BACKEND].spec.replicas == 3
    assert target.wait_healthy(timeout=30)
    target.rollout_undo(wait=True, timeout=30)  # back to the baseline image for the other tests


def test_a_crash_looping_canary_stops_the_step_and_undo_from_another_process_restores(
        target: KubernetesTarget, kube: KubeTarget, canary: KubernetesCanary, k8s_settings) -> None:
    before = target.current_revision()
    saved = canary.saved()
    canary.begin(target.bad_release(), "gameday canary test")
    with pytest.raises(TargetError, match="CrashLoopBackOff"):
        canary.set_canary_replicas(1, timeout=30)
    assert target.canary().in_progress() is not None  # what a second canary would be refused by
    KubernetesTarget(k8s_settings).canary().undo(saved, timeout=30)  # as 'gameday abort' would
    assert CANARY not in deployments(kube)
    assert deployments(kube)[BACKEND].spec.replicas == 3
    assert target.current_revision() == before


def test_run_canary_refuses_before_any_change_without_per_pod_records(target: KubernetesTarget, kube: KubeTarget,
                                                                       k8s_settings, tmp_path) -> None:
    ledger = Ledger(tmp_path / "ledger.json")
    good = target.profile.local.releases[0]  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="per-pod record"):
        run_canary(target, target.profile, ledger, Plan(good))
    assert CANARY not in deployments(kube)
    assert ledger.empty()
