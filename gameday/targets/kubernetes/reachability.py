"""Whether the service's pods can reach a dependency: every NetworkPolicy of the namespace evaluated with the
standard semantics, and Chaos Mesh's injected NetworkChaos, whoever wrote them (the API cannot run a check inside
a pod).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from gameday.dependencies import kind_of
from gameday.targets.kubernetes import chaosmesh, policies
from gameday.targets.kubernetes.client import KubeError
from gameday.targets.kubernetes.core import KubernetesCore
from gameday.targets.model import profile_dependency


class KubernetesReachability(KubernetesCore):
    """The network between the service's pods and their dependencies, as the namespace's policies make it."""

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
            selector = policies.format_selector(labels)
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
