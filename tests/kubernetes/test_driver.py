"""KubernetesTarget: every operation of the target interface, against the ``kube`` fixture's cluster.

By default that is the fake API server seeded with the ecommerce scenario (pods of an image tagged
``-broken`` crash-loop, a DB_HOST that is not the postgres Service or postgres scaled to 0 or egress
to it denied makes the backend not ready); with KUBECONFIG set, a real cluster running deploy/.
"""

# ruff: noqa: F811  (pytest fixtures imported from driver_support are redefined as test arguments)
from __future__ import annotations

import http.server
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes import client

from gameday import reasons
from gameday.config import Settings
from gameday.targets.kubernetes.policies import FROZEN_LABEL, freeze_policy_name, hang_policy_name
from gameday.targets.kubernetes.target import CHECK_ADDRESS, REPLICAS_BEFORE_STOP, KubernetesTarget
from gameday.targets.model import TargetError

from .conftest import BACKEND, CONFIGMAP, KubeTarget, wait_for
from .driver_support import (  # noqa: F401 (fixtures)
    backend_ok,
    gameday_policies,
    k8s_settings,
    target,
    wait_backend_ok,
)

pytestmark = pytest.mark.kubernetes


def live_pods(kube: KubeTarget, selector: str = f"app={BACKEND}") -> set[str]:
    pods = kube.core().list_namespaced_pod(kube.namespace, label_selector=selector).items
    return {p.metadata.name for p in pods if p.metadata.deletion_timestamp is None}


def image_of(kube: KubeTarget) -> str:
    return kube.apps().read_namespaced_deployment(BACKEND, kube.namespace).spec.template.spec.containers[0].image


def not_ready_backends(kube: KubeTarget) -> bool:
    pods = kube.core().list_namespaced_pod(kube.namespace, label_selector=f"app={BACKEND}").items
    pods = [p for p in pods if p.metadata.deletion_timestamp is None]
    return bool(pods) and not any(
        any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []) for p in pods)


# -- observation ---------------------------------------------------------------------------------------

def test_reachable_and_identity(target: KubernetesTarget, kube: KubeTarget) -> None:
    target.reachable()
    assert target.identity() == {"kind": "kubernetes", "context": kube.context, "namespace": kube.namespace,
                                 "kubeconfig": kube.kubeconfig}
    assert target.name == "kubernetes"


def test_replicas_are_the_pods_with_phase_readiness_restarts_and_revision(target: KubernetesTarget,
                                                                         kube: KubeTarget) -> None:
    replicas = target.replicas()
    assert {r.name for r in replicas} == live_pods(kube)
    current = target.current_revision()
    assert current is not None
    for r in replicas:
        assert (r.phase, r.ready, r.restarts) == ("Running", True, 0)
        assert r.revision == current.number and r.version == current.version
        assert r.address and r.address.endswith(":8000")


def test_the_health_timeout_is_the_containers_readiness_probe_timeout(target: KubernetesTarget,
                                                                       kube: KubeTarget) -> None:
    """The prober fails a health check when the kubelet would: at the service container's timeoutSeconds."""
    apps = kube.apps()
    container = apps.read_namespaced_deployment(BACKEND, kube.namespace).spec.template.spec.containers[0]
    seeded = container.readiness_probe.timeout_seconds

    def probe_timeout(seconds: int) -> None:
        apps.patch_namespaced_deployment(BACKEND, kube.namespace, {"spec": {"template": {"spec": {"containers": [
            {"name": container.name, "readinessProbe": {"timeoutSeconds": seconds}}]}}}})

    assert target.health_timeout_s() == float(seeded)
    probe_timeout(4)
    try:
        assert target.health_timeout_s() == 4.0
    finally:
        probe_timeout(seeded)
    assert target.health_timeout_s() == float(seeded)


def test_endpoints_and_service(target: KubernetesTarget, kube: KubeTarget) -> None:
    endpoints = target.endpoints()
    assert {e.name for e in endpoints} == live_pods(kube)
    assert all(e.ready and e.address.endswith(":8000") for e in endpoints)
    lb = target.load_balancer()
    assert (lb.state, lb.ready_backends, lb.total_backends) == ("up", 3, 3)
    assert lb.url == f"http://{BACKEND}.{kube.namespace}.svc.cluster.local:80" == target.base_url()
    assert lb.name.startswith(f"service/{BACKEND}")


def test_not_ready_pods_are_not_ready_addresses_and_the_service_is_down(target: KubernetesTarget,
                                                                        kube: KubeTarget) -> None:
    target.stop_dependency("postgres")
    wait_for(lambda: not_ready_backends(kube), 15, message="backend pods not ready without postgres")
    wait_for(lambda: target.endpoints() and not any(e.ready for e in target.endpoints()), 15,
             message="endpoints listing only notReadyAddresses")
    assert {e.state for e in target.endpoints()} == {"not ready"}
    lb = target.load_balancer()
    assert (lb.state, lb.ready_backends, lb.total_backends) == ("down", 0, 3)
    assert not any(r.ready for r in target.replicas())
    target.start_dependency("postgres", wait=True, timeout=15)
    assert target.wait_healthy(timeout=20)


def test_events_are_sorted_oldest_first_and_limited(target: KubernetesTarget) -> None:
    events = target.events(limit=15)
    assert 0 < len(events) <= 15
    stamps = [e.timestamp for e in events]
    assert stamps == sorted(stamps)
    assert all(e.type in ("Normal", "Warning") and "/" in e.object for e in events)
    assert target.events(limit=3) == events[-3:]


def test_logs_of_one_pod_and_of_the_deployment(target: KubernetesTarget, kube: KubeTarget) -> None:
    name = sorted(live_pods(kube))[0]
    one = target.logs(name, tail=50)
    assert one and not one[0].startswith("[")
    everything = target.logs(None, tail=200)
    prefixes = {line.split("]", 1)[0].lstrip("[") for line in everything}
    assert prefixes == live_pods(kube)  # every pod of the deployment, each line prefixed with its pod
    assert len(target.logs(None, tail=2)) == 2
    if kube.is_fake:
        assert any("INFO ecommerce-backend" in line for line in one)
    with pytest.raises(TargetError, match="no replica 'nope'"):
        target.logs("nope")


def test_config_is_the_configmap(target: KubernetesTarget, kube: KubeTarget) -> None:
    data = kube.core().read_namespaced_config_map(CONFIGMAP, kube.namespace).data
    assert target.config() == data and "DB_HOST" in data


def test_dependency_states_and_checks_through_the_workloads(target: KubernetesTarget, kube: KubeTarget) -> None:
    states = {d.name: d for d in target.dependency_states()}
    assert {n: d.state for n, d in states.items()} == {"postgres": "running", "redis": "running", "kafka": "running"}
    assert states["postgres"].address == "statefulset/postgres 1/1 ready"
    for name in ("postgres", "redis", "kafka"):
        check = target.check_dependency(name)
        assert check.ok, check
        if kube.is_fake:  # on kind the Services carry gameday.io/check-address: checked from the runner instead
            assert "1/1 ready replicas" in check.detail and "not reachable from here" in check.detail
        assert check.command.startswith("kubectl exec deployment/ecommerce-backend")
    assert "pg_isready -h postgres -p 5432" in target.check_dependency("postgres").command
    assert "redis-cli -h redis -p 6379 ping" in target.check_dependency("redis").command
    assert "kafka-broker-api-versions --bootstrap-server kafka:9092" in target.check_dependency("kafka").command


@pytest.fixture
def pong_server() -> Iterator[int]:
    """A loopback TCP server answering every Redis command with +PONG (what redis-cli ping needs)."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(2)
            try:
                while self.request.recv(1024):
                    self.request.sendall(b"+PONG\r\n")
            except OSError:
                return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_check_runs_from_the_runner_when_the_service_has_a_check_address(target: KubernetesTarget,
                                                                         kube: KubeTarget, pong_server: int) -> None:
    pytest.importorskip("redis")
    import shutil

    if not shutil.which("redis-cli"):
        pytest.skip("redis-cli is not installed (apt-get install redis-tools)")
    core = kube.core()
    previous = (core.read_namespaced_service("redis", kube.namespace).metadata.annotations or {}).get(CHECK_ADDRESS)
    try:
        core.patch_namespaced_service("redis", kube.namespace,
                                      {"metadata": {"annotations": {CHECK_ADDRESS: f"127.0.0.1:{pong_server}"}}})
        check = target.check_dependency("redis")
        assert check.ok and "PONG" in check.detail and f"127.0.0.1:{pong_server}" in check.detail, check
        assert check.command.startswith("redis-cli -h 127.0.0.1")
        closed = free_port()
        core.patch_namespaced_service("redis", kube.namespace,
                                      {"metadata": {"annotations": {CHECK_ADDRESS: f"127.0.0.1:{closed}"}}})
        assert not target.check_dependency("redis", timeout=1.0).ok
    finally:
        core.patch_namespaced_service("redis", kube.namespace,
                                      {"metadata": {"annotations": {CHECK_ADDRESS: previous}}})


# -- rollouts ------------------------------------------------------------------------------------------

def test_deploy_bad_release_then_rollout_undo_with_kubectl_semantics(target: KubernetesTarget,
                                                                     kube: KubeTarget) -> None:
    good_image = image_of(kube)
    before = target.current_revision()
    assert before is not None
    bad = target.bad_release()
    assert bad == "1.5.0-broken"
    rev = target.deploy(bad, cause="release 1.5.0", wait=True, timeout=30)
    assert (rev.number, rev.version, rev.change_cause) == (before.number + 1, bad, "release 1.5.0")
    assert image_of(kube) == good_image.rsplit(":", 1)[0] + ":" + bad
    wait_for(lambda: any(r.phase == "CrashLoopBackOff" for r in target.replicas()), 20,
             message="a pod of the bad release crash-looping")
    crashing = [r for r in target.replicas() if r.phase == "CrashLoopBackOff"]
    assert all(r.version == bad and r.revision == rev.number and not r.ready for r in crashing)
    wait_for(lambda: any(r.restarts > 0 for r in target.replicas() if r.version == bad), 20,
             message="restarts counted")
    history = target.history()
    assert [h.number for h in history] == sorted(h.number for h in history)
    assert history[-1].version == bad

    undone = target.rollout_undo(wait=True, timeout=30)
    # the previous ReplicaSet is reused and gets revision max+1; its old number leaves the history
    assert (undone.number, undone.version) == (rev.number + 1, before.version)
    assert image_of(kube) == good_image
    assert before.number not in [h.number for h in target.history()]
    assert target.wait_healthy(timeout=30)
    d = kube.apps().read_namespaced_deployment(BACKEND, kube.namespace)
    assert "pod-template-hash" not in (d.spec.template.metadata.labels or {})
    assert (d.metadata.annotations or {}).get("kubernetes.io/change-cause", "") == before.change_cause


def test_rollout_undo_skips_when_the_template_already_matches(target: KubernetesTarget, kube: KubeTarget) -> None:
    current = target.current_revision()
    assert current is not None
    generation = kube.apps().read_namespaced_deployment(BACKEND, kube.namespace).metadata.generation
    same = target.rollout_undo(to_revision=current.number)
    assert same.number == current.number
    assert kube.apps().read_namespaced_deployment(BACKEND, kube.namespace).metadata.generation == generation
    assert any(e.reason == reasons.ROLLBACK_SKIPPED for e in target.events(50))


def test_rollout_undo_errors(target: KubernetesTarget, kube: KubeTarget) -> None:
    with pytest.raises(TargetError, match="unable to find specified revision 9999 in history"):
        target.rollout_undo(to_revision=9999)
    apps = kube.apps()
    apps.patch_namespaced_deployment(BACKEND, kube.namespace, {"spec": {"paused": True}})
    try:
        template = apps.read_namespaced_deployment(BACKEND, kube.namespace).spec.template
        with pytest.raises(TargetError, match="paused"):
            target.rollout_undo()
        with pytest.raises(TargetError, match="paused"):
            target.rollout_restart()
        assert apps.read_namespaced_deployment(BACKEND, kube.namespace).spec.template == template
    finally:
        apps.patch_namespaced_deployment(BACKEND, kube.namespace, {"spec": {"paused": False}})


def test_rollout_restart_replaces_every_pod_on_a_new_revision(target: KubernetesTarget, kube: KubeTarget) -> None:
    before_pods = live_pods(kube)
    before = target.current_revision()
    assert before is not None
    rev = target.rollout_restart(wait=True, timeout=30)
    assert rev.number == before.number + 1 and rev.version == before.version
    assert rev.change_cause == "kubectl rollout restart"
    template = kube.apps().read_namespaced_deployment(BACKEND, kube.namespace).spec.template
    assert "kubectl.kubernetes.io/restartedAt" in (template.metadata.annotations or {})
    assert target.wait_healthy(timeout=30)
    assert not before_pods & live_pods(kube)
    assert {r.revision for r in target.replicas()} == {rev.number}


# -- replica actions -----------------------------------------------------------------------------------

def test_terminate_replicas_deletes_pods_and_the_controller_recreates_them(target: KubernetesTarget,
                                                                            kube: KubeTarget) -> None:
    before = live_pods(kube)
    one = sorted(before)[0]
    assert target.terminate_replicas([one]) == [one]
    wait_for(lambda: one not in live_pods(kube) and len(live_pods(kube)) == 3, 15, message="pod replaced")
    with pytest.raises(TargetError, match="no replica 'ghost'"):
        target.terminate_replicas(["ghost"])
    all_pods = live_pods(kube)
    killed = target.terminate_replicas()
    assert set(killed) == all_pods
    assert target.start_replicas() == []  # the controller recreates them by itself
    assert target.wait_healthy(timeout=30)
    assert not set(killed) & live_pods(kube)
    assert any(e.reason == reasons.KILLED and "grace period 0" in e.message for e in target.events(100))


def test_freeze_and_thaw_replicas(target: KubernetesTarget, kube: KubeTarget) -> None:
    one, *others = sorted(live_pods(kube))
    assert target.freeze_replicas([one]) == [one]
    assert gameday_policies(kube) == [freeze_policy_name(BACKEND)]
    policy = client.NetworkingV1Api(kube.client()).read_namespaced_network_policy(freeze_policy_name(BACKEND),
                                                                                    kube.namespace)
    assert policy.spec.policy_types == ["Ingress"] and not policy.spec.ingress
    assert policy.spec.pod_selector.match_labels == {"app": BACKEND, FROZEN_LABEL: "true"}
    def states() -> dict[str, tuple[str, bool]]:  # a hung pod is Running, its readiness probe timing out
        return {r.name: (r.phase, r.ready) for r in target.replicas()}

    seen = wait_for(lambda: (now := states())[one] == ("Running", False) and now, message="the frozen pod not ready")
    assert {seen[o] for o in others} == {("Running", True)}
    target.freeze_replicas()
    wait_for(lambda: set(states().values()) == {("Running", False)}, message="every frozen pod not ready")
    assert target.thaw_replicas([one]) == [one]
    assert gameday_policies(kube) == [freeze_policy_name(BACKEND)]  # the others are still frozen
    assert sorted(target.thaw_replicas()) == sorted(others)
    assert gameday_policies(kube) == []
    assert {r.phase for r in target.replicas()} == {"Running"}
    assert target.thaw_replicas() == []  # idempotent


# -- configuration -------------------------------------------------------------------------------------

def test_apply_and_replace_config_return_the_previous_configuration(target: KubernetesTarget,
                                                                     kube: KubeTarget) -> None:
    original = target.config()
    broken = target.broken_config()
    assert broken == {"DB_HOST": "postgres-typo"}
    previous = target.apply_config(broken, cause="test: wrong host")
    assert previous == original
    assert target.config() == {**original, **broken}
    annotations = kube.core().read_namespaced_config_map(CONFIGMAP, kube.namespace).metadata.annotations
    assert annotations["gameday.io/change-cause"] == "test: wrong host"
    # the running pods keep the environment they started with: new pods pick the change up
    assert all(r.ready for r in target.replicas())
    target.terminate_replicas()
    wait_for(lambda: not_ready_backends(kube), 20, message="pods not ready with DB_HOST=postgres-typo")
    extra = {**original, "EXTRA": "1"}
    assert target.replace_config(extra) == {**original, **broken}
    assert target.replace_config(original, cause="test: restore") == extra  # EXTRA removed again
    assert target.config() == original
    target.rollout_restart(wait=True, timeout=30)
    assert target.wait_healthy(timeout=30)
    # every event of the namespace: the kubelet's Unhealthy events while the pods were not ready (more of them on a
    # loaded machine) pushed the change out of the newest 100 in a clean-clone run
    assert any(e.reason == reasons.CONFIG_CHANGED and "DB_HOST" in e.message for e in target.events(100_000))


# -- dependencies --------------------------------------------------------------------------------------

def test_stop_dependency_scales_to_zero_and_start_restores_the_previous_count(target: KubernetesTarget,
                                                                              kube: KubeTarget) -> None:
    apps = kube.apps()
    apps.patch_namespaced_stateful_set_scale("redis", kube.namespace, {"spec": {"replicas": 2}})
    wait_for(lambda: (apps.read_namespaced_stateful_set("redis", kube.namespace).status.ready_replicas or 0) == 2,
             15, message="redis at 2 replicas")
    target.stop_dependency("redis")
    sts = apps.read_namespaced_stateful_set("redis", kube.namespace)
    assert sts.spec.replicas == 0 and sts.metadata.annotations[REPLICAS_BEFORE_STOP] == "2"
    assert {d.name: d.state for d in target.dependency_states()}["redis"] == "stopped"
    wait_for(lambda: not target.check_dependency("redis").ok, 15, message="redis check failing")
    assert "0/0 ready" in target.check_dependency("redis").detail
    target.stop_dependency("redis")  # twice: the remembered count survives
    assert apps.read_namespaced_stateful_set("redis", kube.namespace).metadata.annotations[
        REPLICAS_BEFORE_STOP] == "2"
    target.start_dependency("redis", wait=True, timeout=15)
    sts = apps.read_namespaced_stateful_set("redis", kube.namespace)
    assert sts.spec.replicas == 2 and REPLICAS_BEFORE_STOP not in (sts.metadata.annotations or {})
    assert target.check_dependency("redis").ok
    target.start_dependency("redis")  # idempotent: already running, left as is
    assert apps.read_namespaced_stateful_set("redis", kube.namespace).spec.replicas == 2


def test_a_stop_undone_by_another_machine_meanwhile_is_not_waited_out(target: KubernetesTarget,
                                                                      kube: KubeTarget) -> None:
    """A runner and a ``halt`` from another machine undo the same stop at once: the runner read the StatefulSet at
    0 replicas, the halt scaled it back first, and the runner waited for the new pod to go, which it never does
    (the halt test timed out at 30 s in a loaded ``make test``). It stops waiting once the workload is scaled back."""
    target.stop_dependency("redis")
    read_stopped = kube.apps().read_namespaced_stateful_set("redis", kube.namespace)
    assert read_stopped.spec.replicas == 0
    target.start_dependency("redis", wait=True, timeout=15)  # the other machine, first
    started = time.monotonic()
    target._wait_pods_gone("redis", read_stopped, started + 20)  # the runner's wait, on what it had read
    assert time.monotonic() - started < 5
    target.start_dependency("redis", wait=True, timeout=15)
    assert target.check_dependency("redis").ok


def test_start_dependency_defaults_to_one_replica(target: KubernetesTarget, kube: KubeTarget) -> None:
    kube.apps().patch_namespaced_stateful_set_scale("kafka", kube.namespace, {"spec": {"replicas": 0}})
    target.start_dependency("kafka", wait=True, timeout=15)
    assert kube.apps().read_namespaced_stateful_set("kafka", kube.namespace).spec.replicas == 1


def test_hang_dependency_denies_egress_to_that_dependency_only(target: KubernetesTarget, kube: KubeTarget) -> None:
    target.hang_dependency("redis")
    assert gameday_policies(kube) == [hang_policy_name("redis")]
    policy = client.NetworkingV1Api(kube.client()).read_namespaced_network_policy(hang_policy_name("redis"),
                                                                                    kube.namespace)
    assert policy.spec.policy_types == ["Egress"] and policy.spec.pod_selector.match_labels == {"app": BACKEND}
    check = target.check_dependency("redis")
    assert not check.ok and "hangs" in check.detail and hang_policy_name("redis") in check.detail
    assert {d.name: d.state for d in target.dependency_states()}["redis"] == "frozen"
    assert target.check_dependency("postgres").ok
    if kube.is_fake:  # the fake's network rule: egress to postgres still allowed, so the pods stay ready
        kube.api.run_controllers(3)
        assert not not_ready_backends(kube) and backend_ok(kube)
    target.hang_dependency("postgres")
    if kube.is_fake:
        wait_for(lambda: not_ready_backends(kube), 15, message="backend not ready with postgres egress denied")
    target.release_dependency("postgres")
    target.release_dependency("redis")
    target.release_dependency("redis")  # idempotent
    assert gameday_policies(kube) == []
    assert target.wait_healthy(timeout=30)


def test_unknown_dependency_is_one_line(target: KubernetesTarget) -> None:
    with pytest.raises(TargetError, match="unknown dependency 'mysql'"):
        target.stop_dependency("mysql")


# -- health --------------------------------------------------------------------------------------------

@pytest.fixture
def products_server() -> Iterator[str]:
    """A loopback HTTP server answering 200 on the profile's health path and first probe (stands for the service's
    base_url)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = 200 if self.path in ("/healthz", "/api/products") else 404
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_wait_healthy_also_asks_the_base_url_when_one_is_configured(target: KubernetesTarget,
                                                                    k8s_settings: Settings,
                                                                    products_server: str) -> None:
    assert target.wait_healthy(timeout=10)
    answering = KubernetesTarget(k8s_settings.model_copy(update={"kubernetes": k8s_settings.kubernetes.model_copy(
        update={"base_url": products_server + "/"})}))
    assert answering.base_url() == products_server and answering.load_balancer().url == products_server
    assert answering.wait_healthy(timeout=10)
    silent = KubernetesTarget(k8s_settings.model_copy(update={"kubernetes": k8s_settings.kubernetes.model_copy(
        update={"base_url": f"http://127.0.0.1:{free_port()}"})}))
    assert not silent.wait_healthy(timeout=1.0)


# -- descriptions --------------------------------------------------------------------------------------

def test_command_for_is_what_a_person_would_type(target: KubernetesTarget, kube: KubeTarget) -> None:
    where = f"-n {kube.namespace} --context {kube.context} --kubeconfig {kube.kubeconfig}"
    assert target.command_for("rollout undo") == f"kubectl rollout undo deployment/{BACKEND} {where}"
    assert target.command_for("rollout restart") == f"kubectl rollout restart deployment/{BACKEND} {where}"
    assert target.command_for("logs") == f"kubectl logs deployment/{BACKEND} {where} --tail=100"
    assert target.command_for("get pods") == f"kubectl get pods {where} -l app={BACKEND}"
    assert target.command_for("rollout history") == f"kubectl rollout history deployment/{BACKEND} {where}"
    assert target.command_for("get events") == f"kubectl get events {where} --sort-by=.lastTimestamp"


def test_command_for_without_a_kubeconfig_setting(kube: KubeTarget, k8s_settings: Settings) -> None:
    plain = KubernetesTarget(k8s_settings.model_copy(update={"kubernetes": k8s_settings.kubernetes.model_copy(
        update={"kubeconfig": None, "context": "kind-gameday", "namespace": "gameday"})}))
    assert plain.command_for("rollout undo") == (
        "kubectl rollout undo deployment/ecommerce-backend -n gameday --context kind-gameday")
