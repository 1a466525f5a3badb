"""Controller behaviour: ReplicaSets replace pods, rollouts/undo, endpoints, events, logs, and the
simulated failures of the ecommerce scenario (crash loop, postgres outage, egress denied, bad config).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from tests.fakekube import PodContext, Verdict

from .conftest import BACKEND, KubeTarget, backend_healthy, rollout_restart, wait_for

pytestmark = pytest.mark.kubernetes

REVISION = "deployment.kubernetes.io/revision"
HISTORY = "deployment.kubernetes.io/revision-history"


def backend_pods(kube: KubeTarget) -> list[client.V1Pod]:
    pods = kube.core().list_namespaced_pod(kube.namespace, label_selector=f"app={BACKEND}").items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def is_ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def replicasets(kube: KubeTarget) -> dict[str, client.V1ReplicaSet]:
    items = kube.apps().list_namespaced_replica_set(kube.namespace, label_selector=f"app={BACKEND}").items
    return {rs.metadata.name: rs for rs in items}


def revision(obj: Any) -> int:
    return int((obj.metadata.annotations or {}).get(REVISION, "0"))


def current_rs(kube: KubeTarget) -> client.V1ReplicaSet:
    d = kube.apps().read_namespaced_deployment(BACKEND, kube.namespace)
    return next(rs for rs in replicasets(kube).values() if revision(rs) == revision(d))


def endpoints_of(kube: KubeTarget, name: str = BACKEND) -> tuple[set[str], set[str]]:
    ep = kube.core().read_namespaced_endpoints(name, kube.namespace)
    ready, not_ready = set(), set()
    for subset in ep.subsets or []:
        ready |= {a.ip for a in subset.addresses or []}
        not_ready |= {a.ip for a in subset.not_ready_addresses or []}
    return ready, not_ready


# -- ReplicaSets and rollouts (cluster-agnostic) ----------------------------------------------------


def test_deleted_pods_are_replaced(scenario: KubeTarget) -> None:
    kube = scenario
    before = backend_pods(kube)
    victim = before[0]
    kube.core().delete_namespaced_pod(victim.metadata.name, kube.namespace)
    wait_for(
        lambda: (
            backend_healthy(kube, 3)
            and victim.metadata.name not in {p.metadata.name for p in backend_pods(kube)}
        ),
        message="a replacement pod",
    )
    new = {p.metadata.name for p in backend_pods(kube)} - {p.metadata.name for p in before}
    assert len(new) == 1
    owner = backend_pods(kube)[0].metadata.owner_references[0]
    assert owner.kind == "ReplicaSet" and owner.controller and owner.uid


def test_rollout_restart_makes_a_new_replicaset(scenario: KubeTarget) -> None:
    kube = scenario
    old_rs = current_rs(kube)
    old_pods = {p.metadata.name for p in backend_pods(kube)}
    out = kube.kubectl("rollout", "restart", f"deployment/{BACKEND}", "-n", kube.namespace).stdout
    assert "restarted" in out
    wait_for(
        lambda: backend_healthy(kube, 3) and current_rs(kube).metadata.name != old_rs.metadata.name,
        message="rollout after restart",
    )
    new_rs = current_rs(kube)
    assert revision(new_rs) == max(revision(rs) for rs in replicasets(kube).values())
    assert revision(new_rs) > revision(old_rs)
    assert "kubectl.kubernetes.io/restartedAt" in new_rs.spec.template.metadata.annotations
    assert new_rs.metadata.labels["pod-template-hash"] in new_rs.metadata.name
    wait_for(lambda: replicasets(kube)[old_rs.metadata.name].spec.replicas == 0, message="old RS scaled to 0")
    assert not old_pods & {p.metadata.name for p in backend_pods(kube)}


def test_rollout_undo_restores_previous_template(scenario: KubeTarget) -> None:
    kube, ns = scenario, scenario.namespace
    original = current_rs(kube)
    image = original.spec.template.spec.containers[0].image
    kube.kubectl("set", "image", f"deployment/{BACKEND}", f"{BACKEND}={image}-next", "-n", ns)
    kube.kubectl("rollout", "status", f"deployment/{BACKEND}", "-n", ns, "--timeout=30s")
    updated = current_rs(kube)
    assert updated.metadata.name != original.metadata.name
    top = max(revision(rs) for rs in replicasets(kube).values())
    cause = "gameday: try the -next image"
    kube.kubectl("annotate", f"deployment/{BACKEND}", f"kubernetes.io/change-cause={cause}", "-n", ns)
    wait_for(
        lambda: (current_rs(kube).metadata.annotations or {}).get("kubernetes.io/change-cause") == cause,
        message="change-cause copied onto the ReplicaSet",
    )
    assert cause in kube.kubectl("rollout", "history", f"deployment/{BACKEND}", "-n", ns).stdout

    out = kube.kubectl("rollout", "undo", f"deployment/{BACKEND}", "-n", ns).stdout
    assert "rolled back" in out
    kube.kubectl("rollout", "status", f"deployment/{BACKEND}", "-n", ns, "--timeout=30s")
    wait_for(lambda: backend_healthy(kube, 3), message="healthy after undo")
    d = kube.apps().read_namespaced_deployment(BACKEND, ns)
    assert d.spec.template.spec.containers[0].image == image
    reused = replicasets(kube)[original.metadata.name]  # the same ReplicaSet, not a new one
    assert revision(reused) == top + 1 == revision(d)
    assert str(revision(original)) in reused.metadata.annotations[HISTORY].split(",")
    history = kube.kubectl("rollout", "history", f"deployment/{BACKEND}", "-n", ns).stdout
    assert str(top + 1) in history and str(revision(updated)) in history


def test_scaling_and_cascading_delete(kube: KubeTarget, scratch_namespace: str) -> None:
    apps, core, ns = kube.apps(), kube.core(), scratch_namespace
    body = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "web", "image": "registry.k8s.io/pause:3.10"}],
                },
            },
        },
    }
    apps.create_namespaced_deployment(ns, body)

    def live() -> list[client.V1Pod]:
        pods = core.list_namespaced_pod(ns, label_selector="app=web").items
        return [p for p in pods if p.metadata.deletion_timestamp is None]

    wait_for(lambda: len(live()) == 2, message="2 pods")
    kube.kubectl("scale", "deployment/web", "--replicas=4", "-n", ns)
    wait_for(lambda: len(live()) == 4, message="4 pods")
    rs_name = apps.list_namespaced_replica_set(ns).items[0].metadata.name
    assert all(
        p.metadata.name.startswith(rs_name + "-") and len(p.metadata.name) == len(rs_name) + 6 for p in live()
    )
    kube.kubectl("scale", "deployment/web", "--replicas=1", "-n", ns)
    wait_for(lambda: len(live()) == 1, message="scaled down to 1")
    apps.delete_namespaced_deployment("web", ns)
    wait_for(
        lambda: not apps.list_namespaced_replica_set(ns).items and not core.list_namespaced_pod(ns).items,
        message="ReplicaSets and pods garbage-collected",
    )


# -- simulated behaviour (fake only) -----------------------------------------------------------------


def test_endpoints_follow_pod_readiness(fresh_fake: KubeTarget) -> None:
    kube, fake = fresh_fake, fresh_fake.api
    assert fake is not None
    pods = backend_pods(kube)
    ips = {p.status.pod_ip for p in pods}
    assert all(ip.startswith("10.244.") for ip in ips)
    wait_for(lambda: endpoints_of(kube) == (ips, set()), message="all endpoints ready")
    sick = pods[0].metadata.name
    remove = fake.kubelet.add_readiness_check(lambda pod, _cms: pod["metadata"]["name"] != sick)
    wait_for(
        lambda: endpoints_of(kube) == (ips - {pods[0].status.pod_ip}, {pods[0].status.pod_ip}),
        message="the sick pod moved to notReadyAddresses",
    )
    ep = kube.core().read_namespaced_endpoints(BACKEND, kube.namespace)
    assert ep.subsets[0].ports[0].port == 8000
    remove()
    wait_for(lambda: endpoints_of(kube) == (ips, set()), message="ready again")


def test_custom_rules_see_configmaps(fresh_fake: KubeTarget) -> None:
    kube, fake = fresh_fake, fresh_fake.api
    assert fake is not None

    def maintenance(pod: dict, configmaps: dict) -> bool:
        data = configmaps.get("ecommerce-backend-config", {}).get("data", {})
        return data.get("MAINTENANCE") != "on"

    fake.kubelet.add_readiness_check(maintenance)
    kube.core().patch_namespaced_config_map(
        "ecommerce-backend-config", kube.namespace, {"data": {"MAINTENANCE": "on"}}
    )
    wait_for(
        lambda: not any(is_ready(p) for p in backend_pods(kube)), message="maintenance makes pods unready"
    )

    def crash_redis(ctx: PodContext) -> Verdict | None:
        return (
            Verdict(ready=False, crashing=frozenset({"redis"})) if ctx.labels.get("app") == "redis" else None
        )

    fake.kubelet.add_rule(crash_redis)
    wait_for(
        lambda: (
            fake.get("pods", "redis-0", "production")["status"]["containerStatuses"][0]["state"]
            .get("waiting", {})
            .get("reason")
            == "CrashLoopBackOff"
        ),
        message="redis crash-looping",
    )


def test_broken_image_crash_loops(fresh_fake: KubeTarget) -> None:
    kube, ns = fresh_fake, fresh_fake.namespace
    old = {p.metadata.name for p in backend_pods(kube)}
    kube.kubectl(
        "set", "image", f"deployment/{BACKEND}", f"{BACKEND}=ecommerce-backend:1.4.3-broken", "-n", ns
    )

    def crashing() -> list[client.V1Pod]:
        return [p for p in backend_pods(kube) if p.metadata.name not in old]

    def restarts() -> int:
        pods = crashing()
        return pods[0].status.container_statuses[0].restart_count if pods else 0

    wait_for(lambda: restarts() >= 2, message="restartCount increasing")
    pod = crashing()[0]
    status = pod.status.container_statuses[0]
    assert pod.status.phase == "Running" and not status.ready and not is_ready(pod)
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.last_state.terminated.exit_code == 1
    # the rolling update stalls: the old pods keep serving (maxUnavailable 25% of 3 = 0)
    assert old <= {p.metadata.name for p in backend_pods(kube)}
    table = kube.kubectl("get", "pods", "-n", ns, "-l", f"app={BACKEND}").stdout
    assert "CrashLoopBackOff" in table
    logs = kube.kubectl("logs", pod.metadata.name, "-n", ns).stdout
    assert "FATAL" in logs and "crashed" in logs
    assert "FATAL" in kube.kubectl("logs", pod.metadata.name, "-n", ns, "--previous").stdout
    events = kube.kubectl("get", "events", "-n", ns, "--field-selector", "reason=BackOff").stdout
    assert "Back-off restarting failed container" in events
    status_run = kube.kubectl(
        "rollout", "status", f"deployment/{BACKEND}", "-n", ns, "--timeout=1s", check=False
    )
    assert status_run.returncode != 0
    kube.kubectl("rollout", "undo", f"deployment/{BACKEND}", "-n", ns)
    wait_for(lambda: backend_healthy(kube, 3), message="recovered after undo")


def test_postgres_scaled_to_zero_makes_backend_unready(fresh_fake: KubeTarget) -> None:
    kube, ns = fresh_fake, fresh_fake.namespace
    kube.kubectl("scale", "statefulset/postgres", "--replicas=0", "-n", ns)
    wait_for(
        lambda: backend_pods(kube) and not any(is_ready(p) for p in backend_pods(kube)),
        message="backend pods not ready",
    )
    ready, not_ready = endpoints_of(kube)
    assert not ready and len(not_ready) == 3
    assert all(p.status.phase == "Running" for p in backend_pods(kube))
    d = kube.apps().read_namespaced_deployment(BACKEND, ns)
    assert not d.status.available_replicas
    logs = kube.kubectl("logs", f"deployment/{BACKEND}", "-n", ns, "--tail=5").stdout
    assert "postgres: Connection refused" in logs
    kube.kubectl("scale", "statefulset/postgres", "--replicas=1", "-n", ns)
    wait_for(lambda: backend_healthy(kube, 3), message="backend ready once postgres is back")


def test_network_policy_denying_egress_makes_backend_unready(fresh_fake: KubeTarget) -> None:
    kube, ns = fresh_fake, fresh_fake.namespace
    net = client.NetworkingV1Api(kube.client())
    net.create_namespaced_network_policy(
        ns,
        {
            "metadata": {"name": "deny-egress"},
            "spec": {"podSelector": {"matchLabels": {"app": BACKEND}}, "policyTypes": ["Egress"]},
        },
    )
    wait_for(lambda: not any(is_ready(p) for p in backend_pods(kube)), message="egress denied -> unready")
    logs = kube.kubectl("logs", f"deployment/{BACKEND}", "-n", ns, "--tail=3").stdout
    # dropped, as Calico or Cilium drop it: the backend's connection times out, and no application knows the policy
    assert "port 5432 failed: timeout expired" in logs and "deny-egress" not in logs, logs
    net.patch_namespaced_network_policy(
        "deny-egress",
        ns,
        {
            "spec": {
                "egress": [
                    {"to": [{"podSelector": {"matchLabels": {"app": "postgres"}}}], "ports": [{"port": 5432}]}
                ]
            }
        },
    )
    wait_for(lambda: backend_healthy(kube, 3), message="egress to postgres allowed again")


def test_bad_db_host_needs_a_restart_to_break_and_to_heal(fresh_fake: KubeTarget, tmp_path: Any) -> None:
    kube, ns = fresh_fake, fresh_fake.namespace
    good = kube.core().read_namespaced_config_map("ecommerce-backend-config", ns)
    kube.core().patch_namespaced_config_map("ecommerce-backend-config", ns, {"data": {"DB_HOST": "pg-old"}})
    kube.api.run_controllers(3)
    assert backend_healthy(kube, 3)  # env is read when a container starts
    before = {p.metadata.name for p in backend_pods(kube)}
    kube.kubectl("rollout", "restart", f"deployment/{BACKEND}", "-n", ns)
    wait_for(
        lambda: any(
            p.metadata.name not in before and p.status.phase == "Running" for p in backend_pods(kube)
        ),
        message="a restarted pod",
    )
    new = [p for p in backend_pods(kube) if p.metadata.name not in before]
    assert not any(is_ready(p) for p in new)
    logs = kube.kubectl("logs", new[0].metadata.name, "-n", ns).stdout
    assert 'could not translate host name "pg-old"' in logs
    # the runbook's fix: restore the previous configuration, restart
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": good.metadata.name, "namespace": ns},
        "data": good.data,
    }
    (tmp_path / "previous-config.yaml").write_text(json.dumps(manifest))
    kube.kubectl("apply", "-f", "previous-config.yaml", cwd=str(tmp_path))
    rollout_restart(kube)
    wait_for(lambda: backend_healthy(kube, 3), message="healthy after config restore + restart")


def test_missing_configmap_is_create_container_config_error(fresh_fake: KubeTarget) -> None:
    kube, ns = fresh_fake, fresh_fake.namespace
    kube.core().delete_namespaced_config_map("ecommerce-backend-config", ns)
    victim = backend_pods(kube)[0].metadata.name
    kube.core().delete_namespaced_pod(victim, ns)

    def config_error() -> bool:
        return any(
            (p.status.container_statuses or [None])[0] is not None
            and p.status.container_statuses[0].state.waiting is not None
            and p.status.container_statuses[0].state.waiting.reason == "CreateContainerConfigError"
            for p in backend_pods(kube)
        )

    wait_for(config_error, message="CreateContainerConfigError")
    pending = [p for p in backend_pods(kube) if p.status.phase == "Pending"]
    assert pending and 'configmap "ecommerce-backend-config" not found' in (
        pending[0].status.container_statuses[0].state.waiting.message
    )


def test_paused_deployment_does_not_roll(fresh_fake: KubeTarget) -> None:
    kube, ns = fresh_fake, fresh_fake.namespace
    kube.kubectl("rollout", "restart", f"deployment/{BACKEND}", "-n", ns)  # some history for undo
    wait_for(lambda: len(replicasets(kube)) == 2 and backend_healthy(kube, 3), message="restart rolled out")
    before = set(replicasets(kube))
    kube.kubectl("rollout", "pause", f"deployment/{BACKEND}", "-n", ns)
    kube.kubectl("set", "image", f"deployment/{BACKEND}", f"{BACKEND}=ecommerce-backend:1.4.3", "-n", ns)
    kube.api.run_controllers(3)
    assert set(replicasets(kube)) == before
    cond = {c.type: c for c in kube.apps().read_namespaced_deployment(BACKEND, ns).status.conditions}
    assert cond["Progressing"].reason == "DeploymentPaused"
    undo = kube.kubectl("rollout", "undo", f"deployment/{BACKEND}", "-n", ns, check=False)
    assert undo.returncode != 0 and "paused" in undo.stderr
    kube.kubectl("rollout", "resume", f"deployment/{BACKEND}", "-n", ns)
    wait_for(lambda: len(replicasets(kube)) == 3 and backend_healthy(kube, 3), message="rollout after resume")


def test_events_record_what_happened(fresh_fake: KubeTarget) -> None:
    kube, ns = fresh_fake, fresh_fake.namespace
    kube.core().delete_namespaced_pod(backend_pods(kube)[0].metadata.name, ns)
    wait_for(lambda: backend_healthy(kube, 3), message="replacement")
    events = kube.core().list_namespaced_event(ns).items
    reasons = {(e.involved_object.kind, e.reason) for e in events}
    assert {
        ("Deployment", "ScalingReplicaSet"),
        ("ReplicaSet", "SuccessfulCreate"),
        ("Pod", "Scheduled"),
        ("Pod", "Started"),
        ("Pod", "Killing"),
        ("StatefulSet", "SuccessfulCreate"),
    } <= reasons
    assert all(e.first_timestamp and e.last_timestamp and e.event_time and e.count >= 1 for e in events)
    out = json.loads(kube.kubectl("get", "events", "-n", ns, "--sort-by=.lastTimestamp", "-o", "json").stdout)
    stamps = [e["lastTimestamp"] for e in out["items"]]
    assert stamps == sorted(stamps) and len(stamps) == len(events)


def test_logs_api_and_parameters(fresh_fake: KubeTarget) -> None:
    kube, ns, fake = fresh_fake, fresh_fake.namespace, fresh_fake.api
    assert fake is not None
    pod = backend_pods(kube)[0].metadata.name
    for i in range(5):
        fake.append_log(ns, pod, f"GET /api/orders/{i} 200")
    core = kube.core()
    full = core.read_namespaced_pod_log(pod, ns)
    assert "INFO ecommerce-backend 1.4.2 starting" in full and full.endswith("GET /api/orders/4 200\n")
    assert core.read_namespaced_pod_log(pod, ns, tail_lines=2).splitlines() == [
        "GET /api/orders/3 200",
        "GET /api/orders/4 200",
    ]
    stamped = core.read_namespaced_pod_log(pod, ns, tail_lines=1, timestamps=True, container=BACKEND)
    assert stamped.split(" ", 1)[0].endswith("Z") and stamped.rstrip().endswith("GET /api/orders/4 200")
    with pytest.raises(client.ApiException) as exc:
        core.read_namespaced_pod_log(pod, ns, container="nope")
    assert exc.value.status == 400
    out = kube.kubectl("logs", pod, "-n", ns, "--tail=1").stdout
    assert out == "GET /api/orders/4 200\n"


def test_progress_deadline_exceeded(fresh_fake: KubeTarget) -> None:
    kube, ns = fresh_fake, fresh_fake.namespace
    kube.apps().patch_namespaced_deployment(BACKEND, ns, {"spec": {"progressDeadlineSeconds": 1}})
    kube.kubectl(
        "set", "image", f"deployment/{BACKEND}", f"{BACKEND}=ecommerce-backend:9.9.9-broken", "-n", ns
    )

    def progressing() -> client.V1DeploymentCondition:
        conds = kube.apps().read_namespaced_deployment(BACKEND, ns).status.conditions
        return next(c for c in conds if c.type == "Progressing")

    wait_for(
        lambda: progressing().reason == "ProgressDeadlineExceeded", timeout=10, message="deadline exceeded"
    )
    assert progressing().status == "False"
    result = kube.kubectl("rollout", "status", f"deployment/{BACKEND}", "-n", ns, "--timeout=5s", check=False)
    assert result.returncode != 0 and "exceeded its progress deadline" in result.stderr
