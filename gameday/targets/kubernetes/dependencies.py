"""The kubernetes target's dependencies: their StatefulSets or Deployments and Services; checked from the service's
side; stopped (scaled to zero, or cut off by a NetworkPolicy), hung and released with NetworkPolicies.
"""

from __future__ import annotations

import time
from typing import Any

from gameday import reasons
from gameday.dependencies import Address, kind_of
from gameday.targets.kubernetes import commands, policies
from gameday.targets.kubernetes.client import KubeError
from gameday.targets.kubernetes.core import POLL_S
from gameday.targets.kubernetes.reachability import KubernetesReachability
from gameday.targets.model import (
    DependencyAdmin,
    DependencyCheck,
    DependencyState,
    NotApplicableError,
    TargetError,
    profile_dependency,
)

REPLICAS_BEFORE_STOP = "gameday.io/replicas-before-stop"
CHECK_ADDRESS = "gameday.io/check-address"  # on a dependency's Service: host:port reachable from the runner


class KubernetesDependencies(KubernetesReachability):
    """The service's dependencies as the namespace runs them."""

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

    def check_dependency(self, name: str, timeout: float | None = None) -> DependencyCheck:
        """The kind's check from the service's side: first whether the NetworkPolicies of the namespace let its
        pods connect at all (whoever wrote them), then at the profile's address (an external dependency), at the
        address its Service is reachable at from here, else through its workload's readiness."""
        dep = profile_dependency(self.profile, name)
        timeout = dep.check_timeout_s if timeout is None else timeout
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
        deadline = time.monotonic() + timeout
        if not obj.spec.replicas:
            self._wait_pods_gone(name, obj, deadline)
            self._scale(kind, workload, want)
            self._record(reasons.DEPENDENCY_STARTED, kind, workload, f"{name} scaled back to {want} by gameday")
        else:
            want = obj.spec.replicas
        if saved is not None:
            self._annotate(kind, workload, {REPLICAS_BEFORE_STOP: None})
        while wait:
            found = self._workload(name)
            if found and _ready(found[1]):
                return
            if time.monotonic() > deadline:
                raise TargetError(f"{name} did not come back within {timeout:.0f}s ({kind.lower()}/{workload})")
            time.sleep(POLL_S)  # poll

    def _wait_pods_gone(self, name: str, obj: Any, deadline: float) -> None:
        """Wait (until ``deadline``) for a workload scaled to zero to have no pod left, terminating ones included.
        Its controller deletes them later, asynchronously: scaled back before it did, it leaves them running, and
        "start after stop" would restart nothing (a restart-dependency that drops no connection). Pods that outlive
        the deadline (a finalizer) do not keep it at zero: it is scaled back anyway, never left down. Scaled back
        meanwhile by someone else (a ``halt`` from another machine undoing the same stop), its new pods will never
        go: the wait ends there (measured: a runner undoing its stop beside the halt waited out the whole 30 s)."""
        labels = dict(obj.spec.selector.match_labels or {}) if obj.spec.selector else {}
        if not labels:
            return  # nothing selects its pods: the scale is all that can be done
        selector = policies.format_selector(labels)
        while self.client.call("list pods", self.client.core.list_namespaced_pod, self.ns,
                               label_selector=selector).items:
            found = self._workload(name)
            if time.monotonic() > deadline or (found is not None and found[1].spec.replicas):
                return
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
            self.client.create_or_replace("networkpolicy", self.client.networking.create_namespaced_network_policy,
                                          self.client.networking.replace_namespaced_network_policy, self.ns, body)

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

    def dependency_admin(self, name: str) -> DependencyAdmin:
        """None on a cluster: a dependency's superuser credentials are its operator's (a PostgreSQL operator's
        secret, a managed database's master user), and gameday acts through the service's namespace with the
        service's rights only; a runbook's server-side faults (PostgreSQL sessions, roles) are skipped with this
        reason."""
        profile_dependency(self.profile, name)  # an unknown name is that error, not this one
        raise NotApplicableError(f"{name}: the kubernetes target opens no superuser session to a dependency (its "
                                 "admin credentials are its operator's; gameday holds the service's rights only)")


def _ready(workload: Any) -> bool:
    """A ready replica, in a status its controller wrote after the workload's last change (its scale): a status
    older than the scale may still count the replicas the scale to zero took away."""
    status = workload.status
    if status is None or (status.ready_replicas or 0) < 1:
        return False
    generation, observed = workload.metadata.generation, status.observed_generation
    return generation is None or observed is None or observed >= generation
