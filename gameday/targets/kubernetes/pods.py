"""The kubernetes target's pods: listed as replicas, the Service's endpoints, their logs; deleted (grace period 0)
and frozen (a NetworkPolicy denying their ingress); waited on until the Deployment is complete and ready.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from gameday import reasons
from gameday.targets import probes
from gameday.targets.kubernetes import convert, policies, rollout
from gameday.targets.kubernetes.client import KubeError
from gameday.targets.kubernetes.core import ROLLOUT_TIMEOUT_S
from gameday.targets.kubernetes.rollouts import KubernetesRollouts
from gameday.targets.model import Endpoint, LoadBalancer, NothingChanged, Replica, TargetError, serving_checks

_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d) ?(.*)$")


def _log_time(line: str) -> tuple[float, str]:
    """Split a ``timestamps=true`` log line into (epoch seconds, text)."""
    match = _TS.match(line)
    if not match:
        return 0.0, line
    whole, fraction, zone, text = match.groups()
    stamp = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp()
    return stamp + (float("0." + fraction) if fraction else 0.0), text


class KubernetesPods(KubernetesRollouts):
    """Replicas (pods), the Service in front of them, and their health."""

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

    def _select(self, names: list[str] | None) -> list[str]:
        live = [p.metadata.name for p in self._live_pods()]
        if not names:
            return live
        unknown = [n for n in names if n not in live]
        if unknown:
            raise NothingChanged(f"no replica {unknown[0]!r}: expected one of {', '.join(live) or 'none (no pods)'}")
        return list(names)

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
        self.client.create_or_replace("networkpolicy", self.client.networking.create_namespaced_network_policy,
                                      self.client.networking.replace_namespaced_network_policy, self.ns, body)
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
