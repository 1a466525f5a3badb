"""The smoke gate's restart report on the Kubernetes target: from each pod's own ``restartCount`` (issue 25, item 10).

The fake runs no service answering HTTP, so a whole smoke cannot pass here (see test_experiments_k8s); what the gate
compares across its window is the target's pod list, and that is real: a container that crashes and is restarted in
place grows its pod's ``restartCount``, a deleted pod is replaced under another name.
"""

# ruff: noqa: F811  (pytest fixtures imported from driver_support are redefined as test arguments)
from __future__ import annotations

import pytest

from gameday.config import Settings
from gameday.targets.kubernetes.target import KubernetesTarget
from gameday.verify.checklist import check_item, with_restarts
from gameday.verify.restarts import restarts_between
from gameday.verify.verdicts import Status

from .conftest import BACKEND, KubeTarget, wait_for
from .driver_support import k8s_settings, target  # noqa: F401 (fixtures)

pytestmark = pytest.mark.kubernetes


def test_the_gate_names_a_pod_restarted_in_place_and_one_replaced(target: KubernetesTarget, kube: KubeTarget,
                                                                  k8s_settings: Settings) -> None:
    core, ns = kube.core(), kube.namespace
    before = target.replicas()
    crashed, deleted = before[0], before[1]
    image = core.read_namespaced_pod(crashed.name, ns).spec.containers[0].image
    bad = k8s_settings.service.kubernetes.bad_image

    def restarts() -> int:
        return next((r.restarts for r in target.replicas() if r.name == crashed.name), 0)

    core.patch_namespaced_pod(crashed.name, ns, {"spec": {"containers": [{"name": BACKEND, "image": bad}]}})
    wait_for(lambda: restarts() > crashed.restarts, 20, message="the container restarted by the kubelet")
    core.patch_namespaced_pod(crashed.name, ns, {"spec": {"containers": [{"name": BACKEND, "image": image}]}})
    core.delete_namespaced_pod(deleted.name, ns, grace_period_seconds=0)
    wait_for(lambda: target.wait_healthy(timeout=1) and deleted.name not in {r.name for r in target.replicas()}, 30,
             message="every pod ready again, the deleted one replaced")

    seen = {r.replica: r for r in restarts_between(before, target.replicas())}
    assert set(seen) == {crashed.name, deleted.name}, seen
    assert seen[crashed.name].restarts >= 1 and not seen[crashed.name].gone
    assert seen[deleted.name].gone
    pods = check_item("pods-running", target, settings=k8s_settings)
    reported = with_restarts(pods, list(seen.values()), k8s_settings.service.slo.max_restarts)
    assert reported.passed, reported.line()  # the shipped profile allows restarts, and names them
    assert f"{crashed.name} {seen[crashed.name].restarts} restart" in reported.explanation
    assert f"{deleted.name} gone" in reported.explanation
    refused = with_restarts(pods, list(seen.values()), 0)
    assert refused.status is Status.FAIL and "slo.max_restarts allows 0" in refused.explanation
