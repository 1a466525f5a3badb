"""What every part of the kubernetes target stands on: its own API client, the namespace, the service's Deployment,
pods and ReplicaSets, the events it records; and what the target says about itself (where it answers, a status).
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

from gameday.config import Settings
from gameday.targets.base import Target
from gameday.targets.kubernetes import allowlist, commands, convert, policies, rollout
from gameday.targets.kubernetes.client import KubeClient, KubeError
from gameday.targets.kubernetes.cluster import cluster
from gameday.targets.model import Event, NotApplicableError, Status, TargetError

POLL_S = 0.1
# how long a rollout and the pods' readiness may take when the caller gives no deadline: a real Deployment's is its
# progressDeadlineSeconds (600 s by default), longer than a game day should hang on one step
ROLLOUT_TIMEOUT_S = 60.0


class KubernetesCore(Target):
    """The cluster as every part of :class:`~gameday.targets.kubernetes.target.KubernetesTarget` reads it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.profile = self.settings.service
        self.kube = cluster(self.settings)
        self.client = KubeClient(self.kube.kubeconfig, self.kube.context)
        self.ns = self.kube.namespace
        try:
            self.app_labels = policies.parse_selector(self.kube.label_selector)
        except ValueError as exc:
            raise TargetError(f"kubernetes.label_selector: {exc}") from None
        self._container: str | None = None

    def _guard(self) -> None:
        """The safety guard, before any change that breaks something: the allowlist of the settings it was built
        with."""
        allowlist.check(self.identity(), self.settings.safety)

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

    def _container_name(self, containers: list[Any] | None = None) -> str:
        """The service's container in the pod template (``containers``, read from the Deployment when not given):
        the profile's, else named like the deployment, else the first."""
        if self._container is None:
            containers = self._deployment().spec.template.spec.containers if containers is None else containers
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

    def base_url(self) -> str:
        if self.kube.base_url:
            return self.kube.base_url.rstrip("/")
        port = 80
        with contextlib.suppress(KubeError):
            svc = self.client.call(f"service/{self.kube.service}", self.client.core.read_namespaced_service,
                                   self.kube.service, self.ns)
            port = svc.spec.ports[0].port if svc.spec.ports else 80
        return f"http://{self.kube.service}.{self.ns}.svc.cluster.local:{port}"

    def health_timeout_s(self) -> float:
        """The service container's readiness probe ``timeoutSeconds``, what the kubelet fails a check at; the API's
        default (1 s) when it sets none or the Deployment cannot be read."""
        with contextlib.suppress(KubeError, TargetError):
            containers = self._deployment().spec.template.spec.containers
            name = self._container_name(containers)
            for container in containers:
                probe = container.readiness_probe
                if container.name == name and probe is not None and probe.timeout_seconds:
                    return float(probe.timeout_seconds)
        return 1.0

    def reachable(self) -> None:
        _ = self.client.context  # a missing or bad kubeconfig, an unknown context
        self.client.call("API server version", self.client.version.get_code, _request_timeout=5.0)
        self._deployment()

    def events(self, limit: int = 20) -> list[Event]:
        items = self.client.call("list events", self.client.core.list_namespaced_event, self.ns).items
        return [convert.to_event(e) for e in sorted(items, key=convert.event_time)][-limit:] if limit > 0 else []

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
