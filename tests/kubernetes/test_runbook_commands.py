"""Every kubectl command of the Service Outage runbook (Diagnosis and Resolution), run as written
through the real kubectl binary; only ``--kubeconfig``/``--context`` are added.

``kubectl exec`` (Diagnosis step 3) cannot work against the fake API server, which runs no
processes: those tests assert that kubectl fails with the server's explanation. The dependency
checks belong in the runner (pg_isready, redis-cli ping, kafka-broker-api-versions).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from .conftest import BACKEND, CONFIGMAP, KubeTarget, backend_healthy, find_kubectl, rollout_restart, wait_for

pytestmark = pytest.mark.kubernetes


def runbook(kube: KubeTarget, line: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a runbook line; ``production`` becomes the target namespace if that differs."""
    if kube.namespace != "production":
        line = line.replace("-n production", f"-n {kube.namespace}")
    return kube.kubectl_line(line, **kwargs)


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()]


# -- Diagnosis -----------------------------------------------------------------------------------------


def test_step1_check_service_status(kube: KubeTarget) -> None:
    pods = rows(runbook(kube, "kubectl get pods -n production -l app=ecommerce-backend").stdout)
    assert pods[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(pods) == 4 and all(r[1] == "1/1" and r[2] == "Running" for r in pods[1:])
    assert all(r[0].startswith(f"{BACKEND}-") for r in pods[1:])

    endpoints = runbook(kube, "kubectl get endpoints ecommerce-backend -n production")
    table = rows(endpoints.stdout)
    assert table[0] == ["NAME", "ENDPOINTS", "AGE"] and table[1][0] == BACKEND
    assert len(re.findall(r"\d+\.\d+\.\d+\.\d+:8000", table[1][1])) == 3
    assert "Endpoints is deprecated" in endpoints.stderr  # the real v1.33+ server warns too

    svc = rows(runbook(kube, "kubectl get svc ecommerce-backend -n production").stdout)
    assert svc[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svc[1][:2] == [BACKEND, "ClusterIP"] and svc[1][4] == "80/TCP"


def test_step2_check_recent_changes(kube: KubeTarget) -> None:
    history = runbook(kube, "kubectl rollout history deployment/ecommerce-backend -n production").stdout
    assert history.startswith(f"deployment.apps/{BACKEND}")
    assert re.search(r"^REVISION\s+CHANGE-CAUSE$", history, re.M)
    assert re.search(r"^\d+\s+<none>$", history, re.M)

    # `kubectl get events -n production --sort-by='.lastTimestamp' | head -20`
    events = runbook(kube, "kubectl get events -n production --sort-by='.lastTimestamp'").stdout
    head = events.splitlines()[:20]
    assert head[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert len(head) == 20 and all(re.match(r"^\S+\s+(Normal|Warning)\s+\S+", line) for line in head[1:])


@pytest.mark.parametrize(
    "check",
    [
        "pg_isready -h ${DB_HOST} -p 5432",
        "redis-cli -h ${REDIS_HOST} ping",
        "kafka-broker-api-versions --bootstrap-server ${KAFKA_BOOTSTRAP}",
    ],
)
def test_step3_exec_dependency_checks_fail_clearly(
    kube: KubeTarget, requires_fake: object, check: str
) -> None:
    config = kube.core().read_namespaced_config_map(CONFIGMAP, kube.namespace).data
    pod = kube.core().list_namespaced_pod(kube.namespace, label_selector=f"app={BACKEND}").items[0]
    variables = {"POD_NAME": pod.metadata.name, **config}
    command = f"kubectl exec -it ${{POD_NAME}} -n production -- \\\n  {check}"
    line = re.sub(r"\$\{(\w+)\}", lambda m: shlex.quote(variables[m.group(1)]), command.replace("\\\n", " "))
    result = runbook(kube, line, check=False)
    assert result.returncode != 0
    assert "cannot run processes in containers" in result.stderr
    assert "pg_isready" in result.stderr  # the message says where to run dependency checks instead


# -- Resolution ----------------------------------------------------------------------------------------


def test_check_pod_logs(kube: KubeTarget) -> None:
    # the runbook says `kubectl logs -f ...`; without -f the command ends by itself
    result = runbook(kube, "kubectl logs deployment/ecommerce-backend -n production --tail=100")
    assert re.search(r"Found 3 pods, using pod/ecommerce-backend-\S+", result.stderr) or not kube.is_fake
    if kube.is_fake:
        assert "INFO ecommerce-backend 1.4.2 starting" in result.stdout
    assert len(result.stdout.splitlines()) <= 100


def test_check_pod_logs_follow(kube: KubeTarget) -> None:
    """The runbook's exact command, with -f: it streams until stopped (we stop it)."""
    if not kube.is_fake:
        pytest.skip("needs a pod whose log we can append to")
    binary = find_kubectl()
    assert binary and kube.api is not None
    line = "kubectl logs -f deployment/ecommerce-backend -n production --tail=100"
    if kube.namespace != "production":
        line = line.replace("-n production", f"-n {kube.namespace}")
    cmd = [binary, "--kubeconfig", kube.kubeconfig, "--context", kube.context, *shlex.split(line)[1:]]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"KUBECACHEDIR": kube.cache_dir, "PATH": "/usr/bin:/bin"},
    )
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=lambda s=stream, b=buf: b.extend(iter(s.readline, "")), daemon=True)
        for stream, buf in ((proc.stdout, out), (proc.stderr, err))
    ]
    for reader in readers:
        reader.start()
    try:
        wait_for(lambda: any("starting" in x for x in out), message="the existing log lines")
        pod = wait_for(
            lambda: next((m.group(1) for x in err if (m := re.search(r"pod/(\S+)", x))), None),
            message="kubectl naming the pod it follows",
        )
        kube.api.append_log(kube.namespace, pod, "followed line")
        wait_for(lambda: "followed line\n" in out, message="the appended line streamed")
        assert proc.poll() is None  # still following
    finally:
        proc.terminate()
        proc.wait(5)
        for reader in readers:
            reader.join(5)


def test_restart_pods(scenario: KubeTarget) -> None:
    kube = scenario
    before = {
        p.metadata.name
        for p in kube.core().list_namespaced_pod(kube.namespace, label_selector=f"app={BACKEND}").items
    }
    out = rollout_restart(kube, "kubectl rollout restart deployment/ecommerce-backend -n production").stdout
    assert out.strip() == f"deployment.apps/{BACKEND} restarted"
    status = runbook(kube, "kubectl rollout status deployment/ecommerce-backend -n production --timeout=30s")
    assert f'deployment "{BACKEND}" successfully rolled out' in status.stdout
    wait_for(lambda: backend_healthy(kube, 3), message="healthy after restart")
    after = {
        p.metadata.name
        for p in kube.core().list_namespaced_pod(kube.namespace, label_selector=f"app={BACKEND}").items
        if p.metadata.deletion_timestamp is None
    }
    assert not before & after


def test_rollback_a_failed_deployment(scenario: KubeTarget) -> None:
    kube = scenario
    image = (
        kube.apps().read_namespaced_deployment(BACKEND, kube.namespace).spec.template.spec.containers[0].image
    )
    runbook(
        kube, f"kubectl set image deployment/ecommerce-backend ecommerce-backend={image}-broken -n production"
    )
    stuck = runbook(
        kube, "kubectl rollout status deployment/ecommerce-backend -n production --timeout=2s", check=False
    )
    assert stuck.returncode != 0 and "Waiting for deployment" in stuck.stdout

    out = runbook(kube, "kubectl rollout undo deployment/ecommerce-backend -n production").stdout
    assert out.strip() == f"deployment.apps/{BACKEND} rolled back"
    runbook(kube, "kubectl rollout status deployment/ecommerce-backend -n production --timeout=30s")
    d = kube.apps().read_namespaced_deployment(BACKEND, kube.namespace)
    assert d.spec.template.spec.containers[0].image == image
    wait_for(lambda: backend_healthy(kube, 3), message="healthy after undo")


def test_restore_previous_configuration(scenario: KubeTarget, tmp_path: Path) -> None:
    kube = scenario
    core = kube.core()
    good = core.read_namespaced_config_map(CONFIGMAP, kube.namespace)
    previous = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP, "namespace": kube.namespace, "labels": good.metadata.labels or {}},
        "data": good.data,
    }
    (tmp_path / "previous-config.yaml").write_text(yaml.safe_dump(previous))
    core.patch_namespaced_config_map(CONFIGMAP, kube.namespace, {"data": {"DB_HOST": "postgres-typo"}})

    applied = runbook(kube, "kubectl apply -f previous-config.yaml", cwd=str(tmp_path))
    assert applied.stdout.strip() == f"configmap/{CONFIGMAP} configured"
    assert core.read_namespaced_config_map(CONFIGMAP, kube.namespace).data == good.data
    again = runbook(kube, "kubectl apply -f previous-config.yaml", cwd=str(tmp_path))
    assert again.stdout.strip() == f"configmap/{CONFIGMAP} unchanged"
    rollout_restart(kube, "kubectl rollout restart deployment/ecommerce-backend -n production")
    runbook(kube, "kubectl rollout status deployment/ecommerce-backend -n production --timeout=30s")
    wait_for(lambda: backend_healthy(kube, 3), message="healthy after config restore")


def test_scale(scenario: KubeTarget) -> None:
    kube = scenario
    out = runbook(kube, "kubectl scale deployment/ecommerce-backend --replicas=4 -n production").stdout
    assert out.strip() == f"deployment.apps/{BACKEND} scaled"
    wait_for(lambda: backend_healthy(kube, 4), message="4 ready replicas")
    table = rows(runbook(kube, "kubectl get deployment ecommerce-backend -n production").stdout)
    assert table[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] and table[1][1:4] == [
        "4/4",
        "4",
        "4",
    ]
