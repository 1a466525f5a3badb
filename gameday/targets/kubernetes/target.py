"""The kubernetes target: the runbook's operations on any cluster a kubeconfig reaches (kind, staging ...).

It talks to the API with the official ``kubernetes`` client, through an ``ApiClient`` of its own built
from ``settings.kubernetes.kubeconfig``/``context`` (never the process-wide default configuration).
Pods are terminated with a delete of grace period 0, as ``chaosk8s.pod.actions.terminate_pods(...,
grace_period=0)`` does; chaosk8s itself is not called here because it loads the kubeconfig into the
global default configuration from ``$KUBECONFIG`` and turns TLS verification off unless told otherwise
(the experiments' rollout restart still uses chaosk8s: gameday/chaos/kube.py).

Faults that need a hang use NetworkPolicies (see :mod:`.policies`); a stopped dependency is its
workload scaled to zero, the previous replica count kept in an annotation on the workload itself so
that ``gameday abort`` in another process scales it back. Every fault-introducing operation passes the
safety guard first (the restoring ones do not, so that ``abort`` can always put things back).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from gameday import reasons
from gameday.config import Settings, get_settings
from gameday.dependencies import Address, kind_of
from gameday.targets.base import (
    ConfigChange,
    DependencyCheck,
    DependencyState,
    Endpoint,
    Event,
    LoadBalancer,
    NotApplicableError,
    NothingChanged,
    Replica,
    Revision,
    Status,
    Target,
    TargetError,
    profile_dependency,
    serving_checks,
)
from gameday.targets.canary import CanaryDriver
from gameday.targets.kubernetes import chaosmesh, commands, convert, policies, rollout
from gameday.targets.kubernetes.client import KubeClient, KubeError
from gameday.targets.kubernetes.cluster import cluster
from gameday.targets.kubernetes.toxiproxy import ToxiproxyInNamespace
from gameday.targets.local import probes

REPLICAS_BEFORE_STOP = "gameday.io/replicas-before-stop"
CHECK_ADDRESS = "gameday.io/check-address"  # on a dependency's Service: host:port reachable from the runner
CONFIG_CAUSE = "gameday.io/change-cause"
STALLED_REASONS = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                             "CreateContainerError", "InvalidImageName", "RunContainerError"})
POLL_S = 0.1
_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d) ?(.*)$")


def _now_iso() -> str:
    """RFC 3339 with microseconds: two restarts within one second must still change the pod template
    (kubectl's whole-second stamp makes it refuse a second restart in the same second)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _log_time(line: str) -> tuple[float, str]:
    """Split a ``timestamps=true`` log line into (epoch seconds, text)."""
    match = _TS.match(line)
    if not match:
        return 0.0, line
    whole, fraction, zone, text = match.groups()
    stamp = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp()
    return stamp + (float("0." + fraction) if fraction else 0.0), text


# how long a rollout and the pods' readiness may take when the caller gives no deadline: a real Deployment's is its
# progressDeadlineSeconds (600 s by default), longer than a game day should hang on one step
ROLLOUT_TIMEOUT_S = 60.0

class KubernetesTarget(Target):
    """The runbook's operations on a Kubernetes Deployment, its Service, ConfigMap and dependencies."""

    name = "kubernetes"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.profile = self.settings.service
        self.kube = cluster(self.settings)
        self.client = KubeClient(self.kube.kubeconfig, self.kube.context)
        self.ns = self.kube.namespace
        try:
            self.app_labels = policies.parse_selector(self.kube.label_selector)
        except ValueError as exc:
            raise TargetError(f"kubernetes.label_selector: {exc}") from None
        self._container: str | None = None

    # --- helpers -----------------------------------------------------------------------------------
    def _guard(self) -> None:
        """The safety guard, before any change that breaks something."""
        from gameday.safety import guard

        guard(self)

    def _where(self) -> str:
        return f"namespace {self.ns!r} (context {self.client.context_name()})"

    def _deployment(self) -> Any:
        try:
            return self.client.call(f"deployment/{self.kube.deployment}",
                                    self.client.apps.read_namespaced_deployment, self.kube.deployment, self.ns)
        except KubeError as exc:
            if exc.status == 404:
                raise KubeError(f"deployment {self.kube.deployment!r} not found in {self._where()}", 404) from None
            raise

    def _raw_deployment(self) -> dict[str, Any]:
        return self.client.raw(f"deployment/{self.kube.deployment}", self.client.apps.read_namespaced_deployment,
                               self.kube.deployment, self.ns)

    def _container_name(self) -> str:
        """The service's container in the pod template: the profile's, else named like the deployment, else the
        first."""
        if self._container is None:
            containers = self._deployment().spec.template.spec.containers
            names = [c.name for c in containers]
            if self.kube.container is not None and self.kube.container not in names:
                raise TargetError(f"deployment {self.kube.deployment!r} has no container {self.kube.container!r} "
                                  f"(kubernetes.container): it has {', '.join(names)}")
            wanted = self.kube.container or self.kube.deployment
            self._container = wanted if wanted in names else names[0]
        return self._container

    def _pods(self) -> list[Any]:
        pods = self.client.call("list pods", self.client.core.list_namespaced_pod, self.ns,
                                label_selector=self.kube.label_selector).items
        return sorted(pods, key=lambda p: p.metadata.name)

    def _live_pods(self) -> list[Any]:
        return [p for p in self._pods() if p.metadata.deletion_timestamp is None]

    def _select(self, names: list[str] | None) -> list[str]:
        live = [p.metadata.name for p in self._live_pods()]
        if not names:
            return live
        unknown = [n for n in names if n not in live]
        if unknown:
            raise NothingChanged(f"no replica {unknown[0]!r}: expected one of {', '.join(live) or 'none (no pods)'}")
        return list(names)

    def _replicasets(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        deployment = self._raw_deployment()
        listed = self.client.raw("list replicasets", self.client.apps.list_namespaced_replica_set, self.ns,
                                 label_selector=self.kube.label_selector)
        return deployment, rollout.owned_replicasets(deployment, listed.get("items") or [])

    def _record(self, reason: str, kind: str, name: str, message: str, type_: str = "Normal") -> None:
        """A core/v1 Event telling what gameday did (best effort: RBAC may forbid creating events)."""
        now = datetime.now(UTC)
        body = {
            "metadata": {"name": f"{name}.gameday-{uuid.uuid4().hex[:10]}", "namespace": self.ns,
                         "labels": dict(policies.MANAGED_BY)},
            "involvedObject": {"kind": kind, "name": name, "namespace": self.ns,
                               "apiVersion": "apps/v1" if kind in ("Deployment", "StatefulSet") else "v1"},
            "reason": reason, "message": message, "type": type_, "count": 1,
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source": {"component": "gameday"}, "reportingComponent": "gameday", "reportingInstance": "gameday",
        }
        with contextlib.suppress(KubeError):
            self.client.call("create event", self.client.core.create_namespaced_event, self.ns, body)

    # --- observation -------------------------------------------------------------------------------
    def base_url(self) -> str:
        if self.kube.base_url:
            return self.kube.base_url.rstrip("/")
        port = 80
        with contextlib.suppress(KubeError):
            svc = self.client.call(f"service/{self.kube.service}", self.client.core.read_namespaced_service,
                                   self.kube.service, self.ns)
            port = svc.spec.ports[0].port if svc.spec.ports else 80
        return f"http://{self.kube.service}.{self.ns}.svc.cluster.local:{port}"

    def reachable(self) -> None:
        _ = self.client.context  # a missing or bad kubeconfig, an unknown context
        self.client.call("API server version", self.client.version.get_code, _request_timeout=5.0)
        self._deployment()

    def replicas(self) -> list[Replica]:
        container = self._container_name()
        _, owned = self._replicasets()
        revisions = {(rs["metadata"].get("labels") or {}).get(rollout.HASH_LABEL, ""): rollout.revision_of(rs)
                     for rs in owned}
        out = []
        for pod in self._pods():
            out.append(convert.to_replica(pod, container, revisions, convert.container_port(pod.spec, container)))
        return out

    def endpoints(self) -> list[Endpoint]:
        try:
            eps = self.client.call(f"endpoints/{self.kube.service}", self.client.core.read_namespaced_endpoints,
                                   self.kube.service, self.ns)
        except KubeError as exc:
            if exc.status == 404:
                return []
            raise
        return convert.to_endpoints(eps)

    def load_balancer(self) -> LoadBalancer:
        try:
            svc = self.client.call(f"service/{self.kube.service}", self.client.core.read_namespaced_service,
                                   self.kube.service, self.ns)
        except KubeError as exc:
            if exc.status != 404:
                raise
            return LoadBalancer(f"service/{self.kube.service} (missing)", self.base_url(), "down", 0, 0)
        endpoints = self.endpoints()
        ready = sum(1 for e in endpoints if e.ready)
        return LoadBalancer(
            name=f"service/{self.kube.service} ({svc.spec.type or 'ClusterIP'})",
            url=self.base_url(),
            state="up" if ready else "down",
            ready_backends=ready,
            total_backends=len(endpoints),
        )

    def history(self) -> list[Revision]:
        """``kubectl rollout history``, each revision dated by when it became current (see
        :func:`.rollout.rolled_out_at`): the highest revision is the current one."""
        container = self._container_name()
        _, owned = self._replicasets()
        latest = max((rollout.revision_of(rs) for rs in owned), default=0)
        return [rollout.to_revision(rs, container, current=rollout.revision_of(rs) == latest) for rs in owned]

    def events(self, limit: int = 20) -> list[Event]:
        items = self.client.call("list events", self.client.core.list_namespaced_event, self.ns).items
        return [convert.to_event(e) for e in sorted(items, key=convert.event_time)][-limit:] if limit > 0 else []

    def logs(self, replica: str | None = None, tail: int = 100) -> list[str]:
        container = self._container_name()
        if replica is not None:
            names = [p.metadata.name for p in self._pods()]
            if replica not in names:
                raise TargetError(f"no replica {replica!r}: expected one of {', '.join(names) or 'none (no pods)'}")
            return self._pod_log(replica, container, tail, timestamps=False)[1]
        merged: list[tuple[float, str]] = []
        for pod in self._live_pods():
            stamped, _ = self._pod_log(pod.metadata.name, container, tail, timestamps=True)
            merged += [(when, f"[{pod.metadata.name}] {text}") for when, text in stamped]
        merged.sort(key=lambda item: item[0])
        return [text for _, text in merged][-tail:] if tail > 0 else []

    def _pod_log(self, pod: str, container: str, tail: int, timestamps: bool) -> tuple[list[tuple[float, str]],
                                                                                   list[str]]:
        try:
            text = self.client.call(f"logs of pod/{pod}", self.client.core.read_namespaced_pod_log, pod, self.ns,
                                    container=container, tail_lines=max(tail, 0), timestamps=timestamps)
        except KubeError as exc:
            if exc.status in (400, 404):  # container not started yet / pod just went away
                return [], []
            raise
        lines = [line for line in (text or "").splitlines() if line]
        if not timestamps:
            return [], lines
        return [_log_time(line) for line in lines], []

    def _configmap(self) -> str:
        if not self.kube.configmap:
            raise NotApplicableError(f"{self.profile.service.name}'s profile names no kubernetes.configmap")
        return self.kube.configmap

    def config(self) -> dict[str, str]:
        configmap = self._configmap()
        cm = self.client.call(f"configmap/{configmap}", self.client.core.read_namespaced_config_map,
                              configmap, self.ns)
        return dict(cm.data or {})

    def config_changes(self) -> list[ConfigChange]:
        """When the ConfigMap was last written, by whom: the API server's ``managedFields`` (``kubectl get cm -o
        yaml --show-managed-fields``), kept for every write whatever made it (kubectl edit, patch, apply, a
        controller, gameday). Its creation is not a change. No ConfigMap named in the profile: none."""
        if not self.kube.configmap:
            return []
        try:
            cm = self.client.call(f"configmap/{self.kube.configmap}", self.client.core.read_namespaced_config_map,
                                  self.kube.configmap, self.ns)
        except KubeError as exc:
            if exc.status == 404:
                return []
            raise
        created = convert.timestamp(cm.metadata.creation_timestamp) or 0.0
        out = []
        for entry in cm.metadata.managed_fields or []:
            when = convert.timestamp(entry.time)
            if when is not None and when > created + 1:
                out.append(ConfigChange(when, f"configmap/{self.kube.configmap}", "config",
                                        f"configmap/{self.kube.configmap} written by {entry.manager} "
                                        f"({entry.operation})"))
        return sorted(out, key=lambda c: c.at)

    # --- dependencies ------------------------------------------------------------------------------
    def _dependency(self, name: str) -> str:
        """The dependency's workload name (the profile's ``kubernetes.workloads``, else its own name)."""
        return self.kube.workload(profile_dependency(self.profile, name).name)

    def _workload(self, name: str) -> tuple[str, Any] | None:
        """The dependency's StatefulSet or Deployment as (kind, object), None when neither exists."""
        workload = self._dependency(name)
        for kind, read in (("StatefulSet", self.client.apps.read_namespaced_stateful_set),
                           ("Deployment", self.client.apps.read_namespaced_deployment)):
            try:
                return kind, self.client.call(f"{kind.lower()}/{workload}", read, workload, self.ns)
            except KubeError as exc:
                if exc.status != 404:
                    raise
        return None

    def _require_workload(self, name: str) -> tuple[str, Any]:
        found = self._workload(name)
        if found is None:
            raise TargetError(f"{name}: no StatefulSet or Deployment {self._dependency(name)!r} in {self._where()}")
        return found

    def _scale(self, kind: str, workload: str, replicas: int) -> None:
        patch = (self.client.apps.patch_namespaced_stateful_set_scale if kind == "StatefulSet"
                 else self.client.apps.patch_namespaced_deployment_scale)
        self.client.call(f"scale {kind.lower()}/{workload}", patch, workload, self.ns, {"spec": {"replicas": replicas}})

    def _annotate(self, kind: str, workload: str, annotations: dict[str, str | None]) -> None:
        patch = (self.client.apps.patch_namespaced_stateful_set if kind == "StatefulSet"
                 else self.client.apps.patch_namespaced_deployment)
        self.client.call(f"annotate {kind.lower()}/{workload}", patch, workload, self.ns,
                         {"metadata": {"annotations": annotations}})

    def _namespace_labels(self) -> dict[str, str]:
        """The namespace's labels, which ``namespaceSelector`` peers match; unreadable (RBAC): the one label the API
        server puts on every namespace."""
        own = {"kubernetes.io/metadata.name": self.ns}
        try:
            namespace = self.client.raw(f"namespace/{self.ns}", self.client.core.read_namespace, self.ns)
        except KubeError:
            return own
        return {**own, **((namespace.get("metadata") or {}).get("labels") or {})}

    def _pod_peers(self, label_selector: str, namespace_labels: dict[str, str]) -> list[policies.Peer]:
        """The running pods a label selector picks, as ends of a connection."""
        listed = self.client.raw("list pods", self.client.core.list_namespaced_pod, self.ns,
                                 label_selector=label_selector)
        peers = []
        for pod in listed.get("items") or []:
            meta, status = pod.get("metadata") or {}, pod.get("status") or {}
            if meta.get("deletionTimestamp") or status.get("phase") != "Running":
                continue
            ports = {port["name"]: (int(port["containerPort"]), port.get("protocol") or "TCP")
                     for container in (pod.get("spec") or {}).get("containers") or []
                     for port in container.get("ports") or [] if port.get("name") and port.get("containerPort")}
            peers.append(policies.Peer(meta.get("name", "?"), self.ns, dict(meta.get("labels") or {}),
                                       namespace_labels, status.get("podIP"), ports))
        return peers

    def _dependency_pods(self, name: str) -> tuple[dict[str, str], int | str, str]:
        """(labels of the dependency's pods, the port its clients' connections reach on them, protocol): its
        Service's selector and first port's targetPort, else its workload's selector and the kind's port."""
        workload = self._dependency(name)
        port: int | str = kind_of(self.profile.dependency(name).kind).default_port
        try:
            spec = self.client.raw(f"service/{workload}", self.client.core.read_namespaced_service, workload,
                                   self.ns).get("spec") or {}
        except KubeError as exc:
            if exc.status != 404:
                raise
            found = self._workload(name)
            selector = found[1].spec.selector if found else None
            return dict((selector.match_labels if selector else None) or {}), port, "TCP"
        first = (spec.get("ports") or [{}])[0]
        return (dict(spec.get("selector") or {}), first.get("targetPort") or first.get("port") or port,
                first.get("protocol") or "TCP")

    def _network_cut(self, name: str, external: str | None = None) -> str | None:
        """Why the service's pods cannot open a connection to the dependency (its pods, or the ``external`` host);
        None when they can. The runbook runs step 3 from the replica's side of the network; the API cannot run a
        check inside a pod, so every NetworkPolicy of the namespace is evaluated instead, with the standard
        semantics, whoever wrote it and whatever it is called."""
        chaos = self._chaos_cut(name, external)
        if chaos is not None:
            return chaos
        listed = self.client.raw("list networkpolicies", self.client.networking.list_namespaced_network_policy,
                                 self.ns).get("items") or []
        if not listed:
            return None
        namespace_labels = self._namespace_labels()
        sources = self._pod_peers(self.kube.label_selector, namespace_labels)
        targets: list[tuple[policies.Peer, int, str]] = []
        if external is not None:
            host, _, number = external.rpartition(":")
            try:
                ip: str | None = str(ipaddress.ip_address(host.strip("[]")))
            except ValueError:
                ip = None  # a host name: only what its address would change is left undecided
            targets.append((policies.Peer(external, None, ip=ip), int(number), "TCP"))
        else:
            labels, port, protocol = self._dependency_pods(name)
            if not labels:
                return None
            selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            for pod in self._pod_peers(selector, namespace_labels):
                number = pod.ports.get(port, (0, ""))[0] if isinstance(port, str) and not port.isdigit() else int(port)
                if number:
                    targets.append((pod, number, protocol))
        cut = [why for target, number, protocol in targets for source in sources
               for allowed, why in [policies.connection_allowed(listed, source, target, number, protocol)]
               if not allowed]
        if not cut:
            return None
        pairs = len(sources) * len(targets)
        return cut[0] + ("" if len(cut) == pairs else f" ({len(cut)} of {pairs} pod-to-{name} connections cut)")

    def _chaos_cut(self, name: str, external: str | None) -> str | None:
        """A Chaos Mesh NetworkChaos, injected (its status says so), that drops every packet from the service's pods
        to the dependency (``partition``, ``loss`` 100%), whoever created it; None when there is none (or no Chaos
        Mesh)."""
        try:
            if not chaosmesh.installed(self.client):
                return None
            listed = self.client.call("list networkchaos", self.client.custom.list_namespaced_custom_object,
                                      chaosmesh.GROUP, chaosmesh.VERSION, self.ns, chaosmesh.PLURAL)
        except KubeError:
            return None
        host = external.rpartition(":")[0].strip("[]") if external else None
        labels = self._dependency_pods(name)[0] if external is None else {}
        for obj in listed.get("items") or []:
            if chaosmesh.cuts(obj, self.app_labels, labels, host):
                return (f"connect from the service's pods to {name} timed out (its packets dropped): NetworkChaos "
                        f"{obj['metadata']['name']} ({obj['spec']['action']}) injected")
        return None

    def dependency_states(self) -> list[DependencyState]:
        out = []
        for name in (d.name for d in self.profile.dependencies):
            found = self._workload(name)
            if found is None:
                out.append(DependencyState(name, "unknown", "missing"))
                continue
            kind, obj = found
            want = obj.spec.replicas if obj.spec.replicas is not None else 1
            ready = obj.status.ready_replicas or 0 if obj.status else 0
            if want == 0:
                state = "stopped"
            elif self._network_cut(name) is not None:
                state = "frozen"  # hangs from the service's side
            else:
                state = "running" if ready else "starting"
            out.append(DependencyState(name, state, f"{kind.lower()}/{obj.metadata.name} {ready}/{want} ready"))
        return out

    def _service_address(self, name: str) -> tuple[str, int, str | None]:
        """(in-cluster host, port, address reachable from the runner or None) of a dependency's Service."""
        workload = self._dependency(name)
        port = kind_of(self.profile.dependency(name).kind).default_port
        try:
            svc = self.client.call(f"service/{workload}", self.client.core.read_namespaced_service, workload, self.ns)
        except KubeError as exc:
            if exc.status != 404:
                raise
            return workload, port, None
        if svc.spec.ports:
            port = svc.spec.ports[0].port
        annotated = (svc.metadata.annotations or {}).get(CHECK_ADDRESS)
        if annotated:
            return workload, port, annotated
        ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
        if svc.spec.type == "LoadBalancer" and ingress:
            return workload, port, f"{ingress[0].ip or ingress[0].hostname}:{port}"
        return workload, port, None

    def check_dependency(self, name: str, timeout: float = 2.0) -> DependencyCheck:
        """The kind's check from the service's side: first whether the NetworkPolicies of the namespace let its
        pods connect at all (whoever wrote them), then at the profile's address (an external dependency), at the
        address its Service is reachable at from here, else through its workload's readiness."""
        dep = profile_dependency(self.profile, name)
        kind = kind_of(dep.kind)
        start = time.monotonic()
        if dep.address is not None:
            external, _, number = dep.address.rpartition(":")
            at = Address(external, int(number), path=dep.health_path)
            cut = self._network_cut(name, external=dep.address)
            if cut is not None:
                return DependencyCheck(name, False, time.monotonic() - start, f"hangs from the service's pods: {cut}",
                                       commands.exec_command(kind.command(at), self.kube, self.client.context_name()))
            return kind.check(name, at, timeout)
        workload = self._dependency(name)
        host, port, address = self._service_address(name)
        shown = commands.exec_command(kind.command(Address(host, port, path=dep.health_path)), self.kube,
                                      self.client.context_name())
        cut = self._network_cut(name)
        if cut is not None:
            return DependencyCheck(name, False, time.monotonic() - start, f"hangs from the service's pods: {cut}",
                                   shown)
        if address:
            where, _, runner_port = address.rpartition(":")
            if not where or not runner_port.isdigit():
                raise TargetError(f"annotation {CHECK_ADDRESS} of service {name!r} must be HOST:PORT, "
                                  f"got {address!r}")
            result = kind.check(name, Address(where, int(runner_port), path=dep.health_path), timeout)
            return DependencyCheck(name, result.ok, result.latency_s, f"{result.detail} (checked at {address})",
                                   f"{result.command}  # {shown}")
        found = self._workload(name)
        latency = time.monotonic() - start
        if found is None:
            return DependencyCheck(name, False, latency, f"no StatefulSet or Deployment {workload!r}", shown)
        kind, obj = found
        want = obj.spec.replicas if obj.spec.replicas is not None else 1
        ready = (obj.status.ready_replicas or 0) if obj.status else 0
        return DependencyCheck(
            name, ready > 0, latency,
            f"{kind} {workload}: {ready}/{want} ready replicas (its service {host}:{port} is not reachable from "
            f"here: checked through the workload; annotate the Service with {CHECK_ADDRESS}=HOST:PORT to check "
            "it directly)",
            shown,
        )

    def stop_dependency(self, name: str) -> None:
        """The team's own dependency (``owned: true``) is scaled to zero; any other is cut off at the service's
        side: a NetworkPolicy denies the service's egress to it, the dependency itself untouched (a shared
        database, one outside the namespace, is never scaled or stopped)."""
        self._guard()
        if not profile_dependency(self.profile, name).owned:
            kind, obj, _ = self._selector_labels(name)
            self._write_hang_policies({**self._cut_by_gameday(), name: policies.STOP})
            self._record(reasons.DEPENDENCY_STOPPED, kind, obj.metadata.name,
                         f"egress from {self.kube.label_selector} to {name} denied by NetworkPolicy "
                         f"{policies.hang_policy_name(name, policies.STOP)} (gameday; {name} is not the team's own: "
                         "not scaled)",
                         "Warning")
            return
        kind, obj = self._require_workload(name)
        workload = obj.metadata.name
        current = obj.spec.replicas if obj.spec.replicas is not None else 1
        if current > 0:
            self._annotate(kind, workload, {REPLICAS_BEFORE_STOP: str(current)})
        self._scale(kind, workload, 0)
        self._record(reasons.DEPENDENCY_STOPPED, kind, workload, f"{name} scaled to 0 (was {current}) by gameday",
                     "Warning")

    def start_dependency(self, name: str, wait: bool = True, timeout: float = 30.0) -> None:
        kind, obj = self._require_workload(name)
        workload = obj.metadata.name
        self.release_dependency(name)
        saved = (obj.metadata.annotations or {}).get(REPLICAS_BEFORE_STOP)
        want = int(saved) if saved and saved.isdigit() and int(saved) > 0 else 1
        if not obj.spec.replicas:
            self._scale(kind, workload, want)
            self._record(reasons.DEPENDENCY_STARTED, kind, workload, f"{name} scaled back to {want} by gameday")
        else:
            want = obj.spec.replicas
        if saved is not None:
            self._annotate(kind, workload, {REPLICAS_BEFORE_STOP: None})
        deadline = time.monotonic() + timeout
        while wait:
            found = self._workload(name)
            if found and found[1].status and (found[1].status.ready_replicas or 0) >= 1:
                return
            if time.monotonic() > deadline:
                raise TargetError(f"{name} did not come back within {timeout:.0f}s ({kind.lower()}/{workload})")
            time.sleep(POLL_S)  # poll

    def _selector_labels(self, name: str) -> tuple[str, Any, dict[str, str]]:
        """(kind, workload, its selector's matchLabels) of a dependency, which a hang policy keeps out."""
        kind, obj = self._require_workload(name)
        labels = dict(obj.spec.selector.match_labels or {}) if obj.spec.selector else {}
        if not labels:
            raise TargetError(f"{name}: {kind.lower()}/{obj.metadata.name} has no matchLabels selector to deny")
        return kind, obj, labels

    def _cut_by_gameday(self) -> dict[str, str]:
        """dependency -> the fault (hang or stop) whose egress policy gameday holds on it now (found by its labels:
        to act on them, not to judge)."""
        listed = self.client.raw("list networkpolicies", self.client.networking.list_namespaced_network_policy,
                                 self.ns, label_selector=f"{policies.FAULT_LABEL} in ({policies.HANG},{policies.STOP})")
        cut = {}
        for p in listed.get("items") or []:
            labels = (p.get("metadata") or {}).get("labels") or {}
            if labels.get(policies.DEPENDENCY_LABEL):
                cut[labels[policies.DEPENDENCY_LABEL]] = labels.get(policies.FAULT_LABEL, policies.HANG)
        return cut

    def _write_hang_policies(self, cut: dict[str, str]) -> None:
        """One policy per cut-off dependency (``cut``: name -> hang or stop), each keeping the service's pods from
        all of them."""
        labels = {name: self._selector_labels(name)[2] for name in cut}
        for name, fault in sorted(cut.items()):
            body = policies.hang_policy(name, self.app_labels, labels, fault=fault)
            try:
                self.client.call("create networkpolicy", self.client.networking.create_namespaced_network_policy,
                                 self.ns, body)
            except KubeError as exc:
                if exc.status != 409:
                    raise
                self.client.call("update networkpolicy", self.client.networking.patch_namespaced_network_policy,
                                 body["metadata"]["name"], self.ns, {"spec": body["spec"]})

    def hang_dependency(self, name: str) -> None:
        self._guard()
        kind, obj, _ = self._selector_labels(name)
        self._write_hang_policies({**self._cut_by_gameday(), name: policies.HANG})
        self._record(reasons.DEPENDENCY_HUNG, kind, obj.metadata.name,
                     f"egress from {self.kube.label_selector} to {name} denied by NetworkPolicy "
                     f"{policies.hang_policy_name(name)} (gameday)", "Warning")

    def release_dependency(self, name: str) -> None:
        workload = self._dependency(name)
        cut = self._cut_by_gameday()
        if name not in cut:
            return
        try:
            self.client.call("delete networkpolicy", self.client.networking.delete_namespaced_network_policy,
                             policies.hang_policy_name(name, cut[name]), self.ns)
        except KubeError as exc:
            if exc.status != 404:
                raise
        self._write_hang_policies({n: f for n, f in cut.items() if n != name})
        self._record(reasons.DEPENDENCY_RELEASED, "StatefulSet", workload, f"egress to {name} allowed again (gameday)")

    # --- network faults: a Toxiproxy in the namespace, else Chaos Mesh --------------------------------------
    def _toxiproxy(self) -> ToxiproxyInNamespace | None:
        named = self.profile.kubernetes.toxiproxy if self.profile.kubernetes is not None else None
        if named is None:
            return None
        return ToxiproxyInNamespace(self.client, self.ns, named.service, named.port, named.proxies)

    def _network_engine(self, dependency: str | None) -> ToxiproxyInNamespace | chaosmesh.ChaosMesh:
        """Where a network fault on ``dependency`` goes: the profile's Toxiproxy when it names a proxy for it (the
        team configured its pods to connect through it), else Chaos Mesh where it is installed; otherwise the fault
        does not apply, with the reason."""
        if dependency is not None:
            profile_dependency(self.profile, dependency)
        toxiproxy = self._toxiproxy()
        if toxiproxy is not None and (dependency is None or dependency in toxiproxy.proxies):
            return toxiproxy
        if chaosmesh.installed(self.client):
            return chaosmesh.ChaosMesh(self.client, self.ns, self.app_labels)
        where = (f"a Toxiproxy proxy for {dependency} (kubernetes.toxiproxy.proxies)" if toxiproxy is not None
                 else "a Toxiproxy")
        raise NotApplicableError(f"neither Chaos Mesh (no {chaosmesh.GROUP} API) nor {where} in namespace {self.ns}")

    def _chaos_peer(self, dependency: str) -> dict[str, Any]:
        """The dependency as a NetworkChaos ``target``: its pods by their labels, or ``externalTargets`` for an
        address outside the namespace."""
        dep = profile_dependency(self.profile, dependency)
        if dep.address is not None:
            return {"externalTargets": [dep.address.rpartition(":")[0].strip("[]")]}
        labels, _, _ = self._dependency_pods(dependency)
        if not labels:
            raise TargetError(f"{dependency}: no Service or workload selector in {self._where()} to aim Chaos Mesh at")
        return {"target": {"selector": {"namespaces": [self.ns], "labelSelectors": labels}, "mode": "all"}}

    def add_toxic(self, dependency: str, toxic: dict[str, Any]) -> None:
        self._guard()
        engine = self._network_engine(dependency)
        if isinstance(engine, ToxiproxyInNamespace):
            engine.add_toxic(dependency, toxic)
            return
        engine.apply(chaosmesh.fault_of(str(toxic.get("name", ""))), dependency, toxic, self._chaos_peer(dependency))

    def remove_toxic(self, dependency: str, name: str) -> None:
        engine = self._network_engine(dependency)
        if isinstance(engine, ToxiproxyInNamespace):
            engine.remove_toxic(dependency, name)
        else:
            engine.delete(chaosmesh.object_name(chaosmesh.fault_of(name), dependency))

    def set_dependency_link(self, dependency: str, enabled: bool) -> None:
        if not enabled:
            self._guard()
        engine = self._network_engine(dependency)
        if isinstance(engine, ToxiproxyInNamespace):
            engine.set_link(dependency, enabled)
        elif enabled:
            engine.delete(chaosmesh.object_name(chaosmesh.PARTITION, dependency))
        else:
            engine.apply(chaosmesh.PARTITION, dependency, None, self._chaos_peer(dependency))

    def reset_network_faults(self) -> None:
        toxiproxy = self._toxiproxy()
        if toxiproxy is not None:
            toxiproxy.reset()
        if chaosmesh.installed(self.client):
            chaosmesh.ChaosMesh(self.client, self.ns, self.app_labels).delete_all()

    # --- replica actions ---------------------------------------------------------------------------
    def terminate_replicas(self, names: list[str] | None = None) -> list[str]:
        self._guard()
        chosen = self._select(names)
        killed = []
        for name in chosen:
            try:
                self.client.call(f"delete pod/{name}", self.client.core.delete_namespaced_pod, name, self.ns,
                                 grace_period_seconds=0)
            except KubeError as exc:
                if exc.status == 404:
                    continue
                raise
            killed.append(name)
            self._record(reasons.KILLED, "Pod", name, f"Killing replica {name} (pod deleted, grace period 0)")
        return killed

    def freeze_replicas(self, names: list[str] | None = None) -> list[str]:
        self._guard()
        chosen = self._select(names)
        body = policies.freeze_policy(self.kube.deployment, self.app_labels)
        try:
            self.client.call("create networkpolicy", self.client.networking.create_namespaced_network_policy,
                             self.ns, body)
        except KubeError as exc:
            if exc.status != 409:
                raise
        frozen = []
        for name in chosen:
            try:
                self.client.call(f"label pod/{name}", self.client.core.patch_namespaced_pod, name, self.ns,
                                 {"metadata": {"labels": {policies.FROZEN_LABEL: "true"}}})
            except KubeError as exc:
                if exc.status == 404:
                    continue
                raise
            frozen.append(name)
            self._record(reasons.FROZEN, "Pod", name, f"Replica {name} frozen: ingress denied by NetworkPolicy "
                         f"{body['metadata']['name']} (gameday)", "Warning")
        return frozen

    def thaw_replicas(self, names: list[str] | None = None) -> list[str]:
        frozen = [p.metadata.name for p in self._pods() if (p.metadata.labels or {}).get(policies.FROZEN_LABEL)]
        chosen = [n for n in (names or frozen) if n in frozen]
        for name in chosen:
            try:
                self.client.call(f"label pod/{name}", self.client.core.patch_namespaced_pod, name, self.ns,
                                 {"metadata": {"labels": {policies.FROZEN_LABEL: None}}})
            except KubeError as exc:
                if exc.status != 404:
                    raise
            self._record(reasons.THAWED, "Pod", name, f"Replica {name} resumed: ingress allowed again (gameday)")
        if not [n for n in frozen if n not in chosen]:
            try:
                self.client.call("delete networkpolicy", self.client.networking.delete_namespaced_network_policy,
                                 policies.freeze_policy_name(self.kube.deployment), self.ns)
            except KubeError as exc:
                if exc.status != 404:
                    raise
        return chosen

    # --- rollouts ----------------------------------------------------------------------------------
    def _rollout_state(self) -> tuple[bool, str]:
        """(complete, why not) with ``kubectl rollout status``'s rules, plus a stalled new ReplicaSet."""
        d = self._deployment()
        st, want = d.status, d.spec.replicas if d.spec.replicas is not None else 1
        if st is None or (st.observed_generation or 0) < (d.metadata.generation or 0):
            return False, "waiting for the controller"
        for cond in st.conditions or []:
            if cond.type == "Progressing" and cond.status == "False" and cond.reason == "ProgressDeadlineExceeded":
                return False, "stalled: progress deadline exceeded"
        updated, total, available = st.updated_replicas or 0, st.replicas or 0, st.available_replicas or 0
        if updated == want and total == want and available == want:
            return True, ""
        revision = (d.metadata.annotations or {}).get(rollout.REVISION)
        _, owned = self._replicasets()
        new_hash = next(((rs["metadata"].get("labels") or {}).get(rollout.HASH_LABEL) for rs in owned
                         if str(rollout.revision_of(rs)) == revision), None)
        for pod in self._live_pods():
            if new_hash and (pod.metadata.labels or {}).get(rollout.HASH_LABEL) != new_hash:
                continue
            for status in pod.status.container_statuses or []:
                waiting = status.state.waiting if status.state else None
                if waiting is not None and waiting.reason in STALLED_REASONS:
                    return False, f"stalled: pod {pod.metadata.name} {waiting.reason}"
        return False, f"{updated}/{want} updated, {available}/{want} available"

    def _wait_rollout(self, timeout: float) -> tuple[bool, str]:
        """Wait until the rollout completes or stalls (crash loop, bad image, deadline); (complete, why not)."""
        deadline = time.monotonic() + timeout
        while True:
            done, why = self._rollout_state()
            if done or why.startswith("stalled") or time.monotonic() > deadline:
                if not done and not why.startswith("stalled"):
                    why = f"not complete within {timeout:.0f}s: {why}"
                return done, why
            time.sleep(POLL_S)  # poll

    def _settled_revision(self, generation: int, wait: bool, timeout: float) -> Revision:
        """The newest revision once the controller saw ``generation`` (and the rollout finished, with ``wait``)."""
        deadline = time.monotonic() + min(timeout, 10.0)
        while True:
            d = self._deployment()
            if d.status is not None and (d.status.observed_generation or 0) >= generation:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(POLL_S)  # poll
        if wait:
            done, why = self._wait_rollout(timeout)
            if not done:
                self._record(reasons.ROLLOUT_NOT_COMPLETE, "Deployment", self.kube.deployment, why, "Warning")
        current = self.current_revision()
        if current is None:
            raise TargetError(f"deployment {self.kube.deployment!r} has no ReplicaSet yet")
        return current

    def _patch_deployment(self, what: str, body: Any) -> int:
        d = self.client.call(what, self.client.apps.patch_namespaced_deployment, self.kube.deployment, self.ns, body)
        return int(d.metadata.generation or 0)

    def rollout_restart(self, wait: bool = True, timeout: float | None = None) -> Revision:
        timeout = ROLLOUT_TIMEOUT_S if timeout is None else timeout
        d = self._deployment()
        if d.spec.paused:
            raise TargetError(f"deployment {self.kube.deployment!r} is paused: run "
                              f"'{commands.kubectl_for('rollout resume', self.kube, self.client.context_name())}' "
                              "first")
        body = {"metadata": {"annotations": {rollout.CHANGE_CAUSE: "kubectl rollout restart"}},
                "spec": {"template": {"metadata": {"annotations": {rollout.RESTARTED_AT: _now_iso()}}}}}
        generation = self._patch_deployment(f"rollout restart deployment/{self.kube.deployment}", body)
        return self._settled_revision(generation, wait, timeout)

    def rollout_undo(self, to_revision: int | None = None, wait: bool = True,
                     timeout: float | None = None) -> Revision:
        timeout = ROLLOUT_TIMEOUT_S if timeout is None else timeout
        deployment, owned = self._replicasets()
        if deployment["spec"].get("paused"):
            raise TargetError(f"you cannot rollback a paused deployment; resume it first with "
                              f"'{commands.kubectl_for('rollout resume', self.kube, self.client.context_name())}' "
                              "and try again")
        rs = rollout.pick_revision(owned, to_revision)
        number = rollout.revision_of(rs)
        if rollout.templates_equal(rs["spec"]["template"], deployment["spec"]["template"]):
            self._record(reasons.ROLLBACK_SKIPPED, "Deployment", self.kube.deployment,
                         f"skipped rollback (current template already matches revision {number})")
            current = self.current_revision()
            return current if current is not None else rollout.to_revision(rs, self._container_name())
        patch = rollout.rollback_patch(deployment, rs)
        generation = self._patch_deployment(f"rollout undo deployment/{self.kube.deployment}", patch)
        self._record(reasons.DEPLOYMENT_ROLLBACK, "Deployment", self.kube.deployment,
                     f"Rolled back to revision {number} ({rollout.to_revision(rs, self._container_name()).version})")
        return self._settled_revision(generation, wait, timeout)

    def deploy(self, version: str, cause: str = "", wait: bool = True, timeout: float | None = None) -> Revision:
        timeout = ROLLOUT_TIMEOUT_S if timeout is None else timeout
        self._guard()
        d = self._deployment()
        container = self._container_name()
        current = next(c for c in d.spec.template.spec.containers if c.name == container)
        image = rollout.image_with_tag(current.image or self.kube.deployment, version)
        body = {"metadata": {"annotations": {
                    rollout.CHANGE_CAUSE: cause or f"kubectl set image deployment/{self.kube.deployment} "
                                                   f"{container}={image}"}},
                "spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
        generation = self._patch_deployment(f"set image deployment/{self.kube.deployment}", body)
        return self._settled_revision(generation, wait, timeout)

    # --- configuration -----------------------------------------------------------------------------
    def _write_config(self, data: dict[str, str], cause: str) -> dict[str, str]:
        previous = self.config()
        values: dict[str, str | None] = {k: str(v) for k, v in data.items()}
        values.update({k: None for k in previous if k not in data})  # removed keys
        body = {"metadata": {"annotations": {CONFIG_CAUSE: cause or "gameday"}}, "data": values}
        configmap = self._configmap()
        self.client.call(f"update configmap/{configmap}", self.client.core.patch_namespaced_config_map,
                         configmap, self.ns, body)
        changed = sorted(k for k in set(previous) | set(data) if previous.get(k) != data.get(k))
        self._record(reasons.CONFIG_CHANGED, "ConfigMap", configmap,
                     f"configuration changed ({', '.join(changed) or 'no keys'}): {cause}".rstrip(": "))
        return previous

    def apply_config(self, changes: dict[str, str], cause: str = "") -> dict[str, str]:
        self._guard()
        previous = self.config()
        return self._write_config({**previous, **{k: str(v) for k, v in changes.items()}}, cause)

    def replace_config(self, data: dict[str, str], cause: str = "") -> dict[str, str]:
        return self._write_config(dict(data), cause)

    # --- health ------------------------------------------------------------------------------------
    def _healthy_now(self) -> bool:
        done, _ = self._rollout_state()
        if not done:
            return False
        want = self._deployment().spec.replicas
        pods = self._live_pods()
        if want is not None and len(pods) != want:
            return False
        if not all(convert.is_ready(p) for p in pods):
            return False
        if self.kube.base_url:
            return all(probes.http_status(self.base_url() + path, timeout=2.0) == status
                       for path, status in serving_checks(self.profile))
        return True

    def wait_healthy(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (ROLLOUT_TIMEOUT_S if timeout is None else timeout)
        while True:
            if self._healthy_now():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)  # poll

    def status(self) -> Status:
        status = super().status()
        status.components = [{"name": "api-server", "kind": "kubernetes", "pid": None, "port": self.client.host,
                              "state": self._server_version()}]
        return status

    def _server_version(self) -> str:
        try:
            info = self.client.call("API server version", self.client.version.get_code, _request_timeout=5.0)
            return f"up ({info.git_version})"
        except KubeError as exc:
            return f"down: {exc}"

    # --- identity ----------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {"kind": "kubernetes", "context": self.client.context_name(), "namespace": self.ns,
                "kubeconfig": self.client.kubeconfig}

    def bad_release(self) -> str:
        if not self.kube.bad_image:
            raise NotApplicableError(f"{self.profile.service.name}'s profile names no kubernetes.bad_image: "
                                     "a failed deployment does not apply")
        return rollout.image_tag(self.kube.bad_image) or self.kube.bad_image

    def broken_config(self) -> dict[str, str]:
        if not self.kube.bad_config:
            raise NotApplicableError(f"{self.profile.service.name}'s profile names no kubernetes.bad_config (nor "
                                     "local.bad_config): a bad configuration does not apply")
        return dict(self.kube.bad_config)

    def command_for(self, action: str) -> str:
        return commands.kubectl_for(action, self.kube, self.client.context_name())

    def canary(self) -> CanaryDriver:
        """A Deployment ``<deployment>-canary`` of the new image behind the same Service, sized by replica ratio."""
        from gameday.targets.kubernetes.canary import KubernetesCanary

        return KubernetesCanary(self)
