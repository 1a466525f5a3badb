"""``FakeKube``: the fixture-friendly handle that wires store, API, controllers, kubelet and HTTP."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from . import chaosmesh, seed
from .api import ENDPOINTS, NAMESPACES, NODES, SERVICES, Api, kind_of
from .apps import SimulatedApps
from .controllers import (
    ControllerManager,
    DisruptionController,
    EndpointsController,
    ReplicaSetController,
    StatefulSetController,
)
from .deployments import DeploymentController
from .errors import ApiError
from .events import NODE_NAME, EventRecorder
from .kubeconfig import write_kubeconfig
from .kubelet import GENERIC_RULES, NODE_IP, EcommerceRules, FrozenPods, Kubelet, KubeletConfig, pod_is_ready
from .logs import LogStore
from .proxy import Proxy
from .resources import RESOURCE_TYPES, ResourceType
from .server import FakeKubeHTTPServer
from .store import Obj, Store
from .timefmt import parse_time, rfc3339, rfc3339_micro

T = TypeVar("T")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class WaitTimeout(AssertionError):
    """A :meth:`FakeKube.wait_for` condition did not hold before its deadline."""


def _resource(kind_or_plural: str) -> ResourceType:
    """Resolve ``"pods"``, ``"Pod"``, ``"deployments"``, ``"deploy"``... to a resource type."""
    want = kind_or_plural.lower()
    for rt in RESOURCE_TYPES:
        if want in (rt.plural, rt.kind.lower(), *rt.short_names):
            return rt
    raise KeyError(f"unknown resource {kind_or_plural!r}")


class FakeKube:
    """A running fake Kubernetes API server (HTTP on 127.0.0.1) with simulated controllers.

    Use :meth:`start` to get one; :meth:`stop` (or a ``with`` block) shuts it down and joins every
    thread it started.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        kubelet_config: KubeletConfig | None,
        ecommerce_rules: bool,
        tick: float,
    ) -> None:
        self.store = Store()
        self.api = Api(self.store)
        self.logs = LogStore()
        self.recorder = EventRecorder(self.api)
        self.kubelet = Kubelet(self.api, self.recorder, self.logs, kubelet_config)
        for name, rule in GENERIC_RULES:
            self.kubelet.add_rule(rule, name)
        self.frozen = FrozenPods()
        self.kubelet.add_rule(self.frozen.rule, "frozen-container")
        self.ecommerce = EcommerceRules()
        if ecommerce_rules:
            for name, rule in self.ecommerce.rules():
                self.kubelet.add_rule(rule, name)
            self.kubelet.add_start_logger(self.ecommerce.start_lines)
            self.kubelet.add_rule(chaosmesh.network_rule_for(self.ecommerce.app, self.ecommerce.postgres_service,
                                                             self.ecommerce.postgres_port), "chaos-mesh-network")
        self.controllers = ControllerManager(
            self.api,
            [
                ("deployment", DeploymentController(self.api, self.recorder).sync),
                ("replicaset", ReplicaSetController(self.api, self.recorder).sync),
                ("statefulset", StatefulSetController(self.api, self.recorder).sync),
                ("kubelet", self.kubelet.sync),
                ("endpoints", EndpointsController(self.api).sync),
                ("disruption", DisruptionController(self.api).sync),
                ("chaos-mesh", chaosmesh.ChaosMeshController(self.api).sync),
            ],
            tick=tick,
        )
        #: what started pods answer over HTTP (through the pod and service proxies), and their metrics
        self.apps = SimulatedApps()
        self.api.on_pod_removed.append(self.apps.forget)
        self._bootstrap()
        self.http = FakeKubeHTTPServer((host, port), self.api, self.logs, Proxy(self.api, self.apps))
        self._http_thread = threading.Thread(
            target=self.http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fakekube-server",
            daemon=True,
        )
        self.kubeconfig_path: Path | None = None
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        kubelet_config: KubeletConfig | None = None,
        ecommerce_rules: bool = True,
        tick: float = 0.05,
    ) -> FakeKube:
        """Start the server and the controller thread; returns at once (the port is bound)."""
        fake = cls(host, port, kubelet_config=kubelet_config, ecommerce_rules=ecommerce_rules, tick=tick)
        fake._http_thread.start()
        fake.controllers.start()
        return fake

    def set_chaos_mesh(self, installed: bool) -> None:
        """Serve Chaos Mesh's API group (``chaos-mesh.org``: NetworkChaos) or not, as a cluster with or without its
        CRDs (served by default)."""
        if installed:
            self.http.hidden_groups.discard("chaos-mesh.org")
        else:
            self.http.hidden_groups.add("chaos-mesh.org")

    def map_service(self, namespace: str, name: str, address: str | None) -> None:
        """The service proxy of ``namespace/name`` forwards to a real HTTP server at ``address`` (``host:port`` on
        loopback: a Toxiproxy the test runs), as a real API server forwards to the Service's pods; None unmaps."""
        assert self.http.proxy is not None
        if address is None:
            self.http.proxy.loopback.pop((namespace, name), None)
        else:
            self.http.proxy.loopback[(namespace, name)] = address

    def stop(self) -> None:
        """Stop serving, close every connection (watches, log follows) and join all threads."""
        if self._stopped:
            return
        self._stopped = True
        self.apps.stopping.set()
        self.controllers.stop()
        self.http.shutdown()
        self.http.close_connections()
        self.http.server_close()
        self._http_thread.join(timeout=5)

    def __enter__(self) -> FakeKube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self.http.server_address[1])

    def write_kubeconfig(
        self, directory: str | os.PathLike[str], context: str = "fake-kube", namespace: str = "production"
    ) -> Path:
        """Write a kubeconfig for this server into ``directory``; also kept as ``kubeconfig_path``."""
        self.kubeconfig_path = write_kubeconfig(self.url, directory, context=context, namespace=namespace)
        return self.kubeconfig_path

    @property
    def errors(self) -> list[str]:
        """Internal errors seen so far (controller exceptions and HTTP 500s); tests assert it stays empty."""
        return list(self.controllers.errors) + list(self.http.errors)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The recent HTTP requests (method, path, status, accept, content_type, user_agent)."""
        return list(self.http.requests)

    def _bootstrap(self) -> None:
        for ns in SYSTEM_NAMESPACES:
            self.api.create(NAMESPACES, None, {"metadata": {"name": ns}})
        self.api.create(NODES, None, _node())
        kube = self.api.create(
            SERVICES,
            "default",
            {
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "clusterIP": "10.96.0.1",
                    "ports": [{"name": "https", "port": 443, "targetPort": 6443}],
                },
            },
        )
        self.api.create(
            ENDPOINTS,
            "default",
            {
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": kube["metadata"]["labels"],
                },
                "subsets": [
                    {
                        "addresses": [{"ip": NODE_IP}],
                        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
                    }
                ],
            },
        )

    # -- object helpers --------------------------------------------------------------------------------
    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj | None:
        """One object (a copy) or None; ``resource`` is a plural, kind or short name."""
        rt = _resource(resource)
        return self.store.get(rt, namespace if rt.namespaced else None, name)

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        """Objects (copies), optionally filtered like a LIST request."""
        items, _rv = self.api.list(_resource(resource), namespace, label_selector, field_selector)
        return items

    def apply(self, obj: Obj) -> Obj:
        """Create ``obj``, or replace the existing object of that name (test setup helper)."""
        rt = kind_of(obj["apiVersion"], obj["kind"])
        if rt is None:
            raise KeyError(f"unsupported kind {obj['apiVersion']}/{obj['kind']}")
        ns = obj["metadata"].get("namespace") if rt.namespaced else None
        try:
            return self.api.create(rt, ns, obj)
        except ApiError as exc:
            if exc.code != 409:
                raise
            return self.api.update(rt, ns, obj["metadata"]["name"], obj)

    def age(self, seconds: float) -> None:
        """Make everything the cluster recorded ``seconds`` older: creation and start times, conditions, events,
        ``managedFields``, log lines. A scenario seeded a moment ago then reads as one that has run undisturbed that
        long (a settled cluster, as an incident finds it: its last rollout not seconds old). Specs, labels and
        annotations are left alone (a pod template's ``restartedAt`` is what the template *is*); the controllers and
        the kubelet go on in real time from here."""
        with self.store.lock:  # a controller pass holds it throughout: none sees half the history aged
            self.store.rewrite_history(lambda obj: _aged(obj, seconds))
        self.logs.shift(seconds)

    def append_log(self, namespace: str, pod: str, line: str, container: str | None = None) -> None:
        """Append a line to a pod's (first) container log, as if the application printed it."""
        self.kubelet.append_log(namespace, pod, line, container)

    def freeze_pod(self, namespace: str, name: str) -> None:
        """Freeze a pod's container, as ``kubectl exec POD -- kill -STOP 1`` would (the fake runs no processes): it
        stays Running, its readiness probe times out (``Unhealthy`` events from the kubelet), it leaves the
        endpoints. Nothing in the API says why, as on a real cluster."""
        pod = self.api.get(_resource("pods"), namespace, name)
        self.frozen.freeze(pod)

    def thaw_pod(self, namespace: str, name: str) -> None:
        """Let a frozen pod's container run again (``kill -CONT 1``)."""
        pod = self.api.store.get(_resource("pods"), namespace, name)
        if pod is not None:
            self.frozen.thaw(pod)

    def run_controllers(self, passes: int = 1) -> None:
        """Run controller passes synchronously (the background thread runs them anyway)."""
        for _ in range(passes):
            self.controllers.run_pass()

    # -- waiting ---------------------------------------------------------------------------------------
    @staticmethod
    def wait_for(
        predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, message: str = "condition"
    ) -> T:
        """Poll ``predicate`` until it returns something truthy; :class:`WaitTimeout` at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"timed out after {timeout}s waiting for {message}")
            time.sleep(interval)  # poll

    def pods_ready(self, namespace: str, label_selector: str, count: int | None = None) -> bool:
        """Whether the matching (non-terminating) pods are all Running and ready (and ``count`` of them)."""
        pods = [
            p
            for p in self.list("pods", namespace, label_selector)
            if "deletionTimestamp" not in p["metadata"]
        ]
        if count is not None and len(pods) != count:
            return False
        return bool(pods) and all(p["status"].get("phase") == "Running" and pod_is_ready(p) for p in pods)

    def rollout_complete(self, namespace: str, name: str) -> bool:
        """``kubectl rollout status`` semantics for a Deployment."""
        d = self.get("deployments", name, namespace)
        if d is None:
            return False
        st, want = d.get("status") or {}, d["spec"].get("replicas", 1)
        return (
            st.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
            and st.get("updatedReplicas", 0) == want
            and st.get("replicas", 0) == want
            and st.get("availableReplicas", 0) == want
        )

    def statefulset_ready(self, namespace: str, name: str) -> bool:
        sts = self.get("statefulsets", name, namespace)
        if sts is None:
            return False
        st = sts.get("status") or {}
        return st.get("readyReplicas", 0) == sts["spec"].get("replicas", 1) and st.get("replicas", 0) == sts[
            "spec"
        ].get("replicas", 1)

    def wait_rollout(self, namespace: str, name: str, timeout: float = 10.0) -> Obj:
        """Wait until a Deployment is fully rolled out; returns it."""
        self.wait_for(lambda: self.rollout_complete(namespace, name), timeout, message=f"rollout of {name}")
        return self.get("deployments", name, namespace) or {}

    # -- scenario --------------------------------------------------------------------------------------
    def seed_ecommerce(self, namespace: str = "production", timeout: float = 10.0) -> None:
        """Create the ecommerce scenario and wait until every pod is Running and ready.

        Namespace; ``ecommerce-backend`` Deployment (3 replicas, ``ecommerce-backend:1.4.2``,
        readiness ``/readyz`` and liveness ``/healthz`` probes, env from ConfigMap
        ``ecommerce-backend-config``), its Service (80 -> 8000), the ConfigMap, a PodDisruptionBudget
        (minAvailable 2), and postgres/redis/kafka StatefulSets with Services.
        """
        for obj in seed.ecommerce_objects(namespace):
            self.apply(obj)
        for name in seed.DEPENDENCIES:
            self.wait_for(
                lambda n=name: self.statefulset_ready(namespace, n), timeout, message=f"statefulset {name}"
            )
        self.wait_rollout(namespace, seed.BACKEND, timeout)
        self.wait_for(
            lambda: self.pods_ready(namespace, f"app={seed.BACKEND}", 3),
            timeout,
            message="ecommerce-backend pods ready",
        )


_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_NOT_HISTORY = frozenset({"spec", "data", "binaryData", "labels", "annotations"})


def _aged(value: Any, seconds: float) -> Any:
    """A stored object with every RFC 3339 time outside its spec, data, labels and annotations ``seconds``
    earlier (same precision)."""
    if isinstance(value, dict):
        return {k: v if k in _NOT_HISTORY else _aged(v, seconds) for k, v in value.items()}
    if isinstance(value, list):
        return [_aged(v, seconds) for v in value]
    if isinstance(value, str) and (match := _STAMP.match(value)):
        stamp = (parse_time(value) or 0.0) - seconds
        return rfc3339_micro(stamp) if match.group(1) else rfc3339(stamp)
    return value


def _node() -> Obj:
    return {
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {"podCIDR": "10.244.0.0/16", "podCIDRs": ["10.244.0.0/16"]},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": NODE_IP},
                {"type": "Hostname", "address": NODE_NAME},
            ],
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "fakekube",
                "containerRuntimeVersion": "containerd://2.1.0",
                "kernelVersion": "6.1.0",
                "kubeProxyVersion": "",
                "kubeletVersion": "v1.37.1",
                "machineID": "fakekube",
                "operatingSystem": "linux",
                "osImage": "fakekube",
                "systemUUID": "fakekube",
            },
        },
    }
