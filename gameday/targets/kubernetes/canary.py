"""The canary on a cluster: a Deployment ``<deployment>-canary`` of the new image behind the same Service.

Its pods carry the primary's pod labels (so the Service selects them) plus ``gameday.io/track=canary``, and its
selector includes that label, so its ReplicaSet owns only its own pods (ReplicaSets adopt by controller reference,
never pods another controller owns). Sized by replica ratio: a step of ``k`` canary replicas scales the primary to
``N - k``, so the new release gets ``k/N`` of the Service's traffic. The primary's template, and so its rollout
history, is untouched until promotion, which is an ordinary ``set image`` of the primary (its next revision); a
rollback deletes the canary and scales the primary back, leaving its current revision the one that serves. ``N``
is kept in an annotation on the canary Deployment and in the ledger, with the primary's image and revision before the
canary, so :meth:`undo` works from any process, even after a promotion cut short between its two changes.

Each side is measured from the pods' own counters (the profile's ``service.metrics``), read through the API
server's pod proxy (``pods/proxy``: what ``kubectl get --raw .../pods/POD:PORT/proxy/metrics`` reads), because the
Service's load balancing happens in the kernel and nothing outside a pod knows which pod answered. A window's start
reads every pod of the service; each evaluation reads them again and sums the increases by side (the canary's
pods carry ``gameday.io/track=canary``). A pod gone since (the primary scaled down) keeps the increase last read
from it; a container restart during the window (the pods' ``restartCount``) counts as a failure of its side,
because the crash took its counters and the requests it was serving with it, and as a restart of its side: a
canary that restarts more than the primary is rolled back on that alone. A service without metrics, or pods whose
metrics cannot be read (RBAC without ``pods/proxy``, a wrong port), make :meth:`unmeasurable` say why, and
``gameday canary`` refuses before creating anything: no data is never a pass.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gameday import reasons
from gameday.targets import exposition
from gameday.targets.canary import CanaryDriver, Served, Window
from gameday.targets.exposition import ExpositionError, Reading
from gameday.targets.kubernetes import convert, rollout
from gameday.targets.kubernetes.client import KubeError
from gameday.targets.kubernetes.policies import MANAGED_BY
from gameday.targets.kubernetes.rollouts import KubernetesRollouts
from gameday.targets.model import Revision, TargetError

TRACK = "gameday.io/track"
PRIMARY_REPLICAS = "gameday.io/primary-replicas"  # on the canary Deployment: the primary's size before the canary
POLL_S = 0.1
STALLED = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                     "CreateContainerError", "InvalidImageName", "RunContainerError"})


class KubernetesCanary(CanaryDriver):
    """A canary Deployment beside the service's Deployment."""

    def __init__(self, target: KubernetesRollouts) -> None:
        self.t = target
        self.name = f"{target.kube.deployment}-canary"
        self.version: str | None = None
        self.replicas: int | None = None
        self._ever: list[str] = []
        self._port: int | str | None = None  # the Service's target port, read once
        self._first_canary_at: float | None = None
        self._last: dict[str, tuple[bool, Reading, int]] = {}  # pod -> (canary?, increase, restarts) in the window
        self._before: dict[str, Any] = {}  # what saved() recorded: the primary's image and revision before any change

    # --- API helpers ----------------------------------------------------------------------------------
    def _read(self) -> Any | None:
        try:
            return self.t.client.call(f"deployment/{self.name}", self.t.client.apps.read_namespaced_deployment,
                                      self.name, self.t.ns)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def _scale(self, name: str, replicas: int) -> None:
        self.t.client.call(f"scale deployment/{name}", self.t.client.apps.patch_namespaced_deployment, name,
                           self.t.ns, {"spec": {"replicas": replicas}})

    def _canary_pods(self) -> list[Any]:
        selector = f"{self.t.kube.label_selector},{TRACK}=canary"
        pods = self.t.client.call("list canary pods", self.t.client.core.list_namespaced_pod, self.t.ns,
                                  label_selector=selector).items
        return [p for p in pods if p.metadata.deletion_timestamp is None]

    # --- what is there -------------------------------------------------------------------------------
    def replica_count(self) -> int:
        if self.replicas is None:
            existing = self._read()
            if existing is not None and PRIMARY_REPLICAS in (existing.metadata.annotations or {}):
                self.replicas = int(existing.metadata.annotations[PRIMARY_REPLICAS])
            else:
                spec = self.t._deployment().spec.replicas
                self.replicas = 1 if spec is None else int(spec)
        return self.replicas

    def known_versions(self) -> set[str]:
        profile = self.t.profile
        known = {r.version for r in self.t.history()}
        if profile.local is not None:
            known |= {profile.local.release, *profile.local.releases}
            known |= {r.version for r in (profile.local.bad_release, profile.local.slow_release) if r is not None}
        if self.t.kube.bad_image:
            known.add(rollout.image_tag(self.t.kube.bad_image) or self.t.kube.bad_image)
        return known

    def in_progress(self) -> str | None:
        existing = self._read()
        if existing is None:
            return None
        images = ", ".join(c.image for c in existing.spec.template.spec.containers)
        return f"deployment/{self.name} ({images}) in namespace {self.t.ns!r}"

    # --- the canary ----------------------------------------------------------------------------------
    def saved(self) -> dict[str, Any]:
        current = self.t.current_revision()
        self._before = {"deployment": self.name, "primary_replicas": self.replica_count(),
                        "primary_image": self._primary_image(),
                        "primary_revision": current.number if current is not None else None}
        return dict(self._before)

    def _primary_image(self) -> str | None:
        container = self.t._container_name()
        return next((c.image for c in self.t._deployment().spec.template.spec.containers if c.name == container),
                    None)

    def begin(self, version: str, cause: str) -> Revision:
        self.t._guard()
        primary = self.t._raw_deployment()
        container = self.t._container_name()
        template = rollout.template_without_hash(copy.deepcopy(primary["spec"]["template"]))
        template.setdefault("metadata", {}).setdefault("labels", {})[TRACK] = "canary"
        main = rollout.main_container(template, container)
        image = rollout.image_with_tag(main.get("image") or self.t.kube.deployment, version)
        main["image"] = image
        selector = dict((primary["spec"].get("selector") or {}).get("matchLabels") or {})
        body = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": self.name, "namespace": self.t.ns,
                         "labels": {**(primary["metadata"].get("labels") or {}), **MANAGED_BY, TRACK: "canary"},
                         "annotations": {PRIMARY_REPLICAS: str(self.replica_count()), rollout.CHANGE_CAUSE: cause}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {**selector, TRACK: "canary"}},
                     "template": template},
        }
        self.t.client.call(f"create deployment/{self.name}", self.t.client.apps.create_namespaced_deployment,
                           self.t.ns, body)
        self.version = version
        self.t._record(reasons.SCALING_REPLICA_SET, "Deployment", self.name, f"Canary of {image} created ({cause})")
        return Revision(1, version, cause, datetime.now(UTC).timestamp())

    def set_canary_replicas(self, count: int, timeout: float) -> list[str]:
        total = self.replica_count()
        if not 1 <= count <= total:
            raise TargetError(f"a canary of {count} replicas: the service runs {total}")
        self._scale(self.name, count)
        self._scale(self.t.kube.deployment, total - count)
        self.t._record(reasons.SCALING_REPLICA_SET, "Deployment", self.name,
                       f"Canary at {count}/{total} replicas ({self.t.kube.deployment} at {total - count})")
        deadline = time.monotonic() + timeout
        while True:
            pods = self._canary_pods()
            for pod in pods:
                if pod.metadata.name not in self._ever:
                    self._ever.append(pod.metadata.name)
                for status in pod.status.container_statuses or []:
                    waiting = status.state.waiting if status.state else None
                    if waiting is not None and waiting.reason in STALLED:
                        raise TargetError(f"canary pod {pod.metadata.name}: {waiting.reason}")
            ready = [p.metadata.name for p in pods if convert.is_ready(p)]
            if len(pods) == count and len(ready) == count:
                return ready
            if time.monotonic() > deadline:
                raise TargetError(f"canary: {len(ready)}/{count} pods ready after {timeout:.0f}s")
            time.sleep(POLL_S)  # poll

    # --- measurement: the pods' own counters ------------------------------------------------------------
    def _service_pods(self) -> list[Any]:
        """The service's pods that run a started container (a pod proxy to any other would only fail)."""
        pods = self.t.client.call("list pods", self.t.client.core.list_namespaced_pod, self.t.ns,
                                  label_selector=self.t.kube.label_selector).items
        return [p for p in pods if p.status is not None and p.status.phase == "Running" and p.status.pod_ip]

    def _metrics_port(self, pod: Any) -> int:
        """The profile's metrics port, else the Service's target port (a named one resolved on the pod)."""
        if self.t.kube.metrics_port is not None:
            return self.t.kube.metrics_port
        if self._port is None:
            svc = self.t.client.call(f"service/{self.t.kube.service}", self.t.client.core.read_namespaced_service,
                                     self.t.kube.service, self.t.ns)
            ports = svc.spec.ports or []
            self._port = (ports[0].target_port or ports[0].port) if ports else 80
        port = self._port
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for container in pod.spec.containers:
            for declared in container.ports or []:
                if declared.name == port:
                    return int(declared.container_port)
        raise TargetError(f"pod {pod.metadata.name} declares no port named {port!r} (the Service's target port)")

    def _reading(self, pod: Any) -> Reading:
        """One pod's cumulative API counts, read through the API server's pod proxy."""
        metrics = self.t.profile.service.metrics
        assert metrics is not None, "unmeasurable() first"
        name = pod.metadata.name
        proxy = self.t.client.core.connect_get_namespaced_pod_proxy_with_path
        text = self.t.client.text(f"metrics of pod {name}", proxy, f"{name}:{self._metrics_port(pod)}", self.t.ns,
                                  metrics.path.lstrip("/"))
        try:
            return exposition.parse(text, metrics, self.t.profile.service.own_paths)
        except ExpositionError as exc:
            raise TargetError(f"metrics of pod {name} at {metrics.path}: {exc}") from None

    def _restarts(self, pod: Any) -> int:
        return sum(s.restart_count or 0 for s in (pod.status.container_statuses or []))

    def unmeasurable(self) -> str | None:
        if self.t.profile.service.metrics is None:
            return ("the profile declares no per-replica metrics (service.metrics), and on a cluster the pods' own "
                    "counters are the only record of which side answered a request")
        pods = self._service_pods()
        if not pods:
            return f"no running pod matches {self.t.kube.label_selector!r} to read metrics from"
        try:
            self._reading(pods[0])
        except TargetError as exc:
            return f"cannot read the pods' own request counters: {exc}"
        return None

    def mark(self) -> Window:
        start: dict[str, tuple[str, Reading, int]] = {}
        for pod in self._service_pods():
            try:
                start[pod.metadata.name] = (pod.metadata.uid, self._reading(pod), self._restarts(pod))
            except KubeError:
                continue  # not serving right now (starting, crashing): everything it counts later is in the window
        self._last, self._first_canary_at = {}, None
        return Window(time.time(), start)

    def served(self, since: Window) -> tuple[Served, Served]:
        start: dict[str, tuple[str, Reading, int]] = since.position or {}
        for pod in self._service_pods():
            name = pod.metadata.name
            try:
                now = self._reading(pod)
            except KubeError:
                continue  # unreachable this time (restarting): its last increase and its restarts still count
            uid, before, restarts_before = start.get(name, (None, None, 0))
            fresh = uid != pod.metadata.uid
            canary = (pod.metadata.labels or {}).get(TRACK) == "canary"
            restarts = self._restarts(pod) - (0 if fresh else restarts_before)
            self._last[name] = (canary, now.since(None if fresh else before), max(0, restarts))
        sides = {side: [v for v in self._last.values() if v[0] is side] for side in (True, False)}
        def side(pods: list[tuple[bool, Reading, int]]) -> Served:
            restarts = sum(n for _, _, n in pods)
            return replace(exposition.served([r for _, r, _ in pods], None, restarts), restarts=restarts)

        canary, primary = side(sides[True]), side(sides[False])
        if self._first_canary_at is None and canary.requests:
            self._first_canary_at = time.time()  # first seen: the counters do not say when it arrived
        return replace(canary, first_at=self._first_canary_at), primary

    def served_new(self) -> list[str]:
        return list(self._ever)

    # --- the end ---------------------------------------------------------------------------------------
    def promote(self, timeout: float) -> Revision:
        assert self.version is not None, "begin() first"
        revision = self.t.deploy(self.version, cause=f"gameday canary {self.version} promoted", wait=False)
        self._scale(self.t.kube.deployment, self.replica_count())
        if not self.t._wait_rollout(timeout)[0]:
            raise TargetError(f"the promotion of {self.version} did not complete within {timeout:.0f}s")
        self._delete()
        return self.t.current_revision() or revision

    def rollback(self, timeout: float) -> Revision:
        return self.undo({**self._before, "primary_replicas": self.replica_count()}, timeout)

    def undo(self, saved: dict[str, Any], timeout: float) -> Revision | None:
        return self._restore(int(saved["primary_replicas"]), saved.get("primary_image"),
                             saved.get("primary_revision"), timeout)

    def _restore(self, replicas: int, image: str | None, revision: int | None, timeout: float) -> Revision:
        """The canary deleted, the primary at its size again on the revision it had before the canary.

        Its image is put back too when it differs (``rollout undo`` to that revision): a promotion interrupted
        after its ``set image`` has changed the primary, which a rollback that only scaled would leave on the new
        release with the canary's entry gone.
        """
        if image is not None and self._primary_image() != image:
            if revision is not None:
                self.t.rollout_undo(to_revision=revision, wait=False)
            else:
                self.t.deploy(image, cause=f"gameday canary rolled back to {image}", wait=False)
        self._scale(self.t.kube.deployment, replicas)
        self._delete()
        self.t._record(reasons.DEPLOYMENT_ROLLBACK, "Deployment", self.t.kube.deployment,
                       f"Canary {self.name} rolled back: {self.t.kube.deployment} serves alone at {replicas} replicas")
        deadline = time.monotonic() + timeout
        while self._read() is not None or not self.t._rollout_state()[0]:
            if time.monotonic() > deadline:
                raise TargetError(f"the rollback of the canary did not complete within {timeout:.0f}s")
            time.sleep(POLL_S)  # poll
        current = self.t.current_revision()
        if current is None:
            raise TargetError(f"deployment {self.t.kube.deployment!r} has no ReplicaSet")
        return current

    def _delete(self) -> None:
        try:
            self.t.client.call(f"delete deployment/{self.name}", self.t.client.apps.delete_namespaced_deployment,
                               self.name, self.t.ns, propagation_policy="Background")
        except KubeError as exc:
            if exc.status != 404:
                raise


class KubernetesCanaries(KubernetesRollouts):
    """The kubernetes target's canary part: it rolls out and back as the rollouts part does."""

    def canary(self) -> CanaryDriver:
        """A Deployment ``<deployment>-canary`` of the new image behind the same Service, sized by replica ratio."""
        return KubernetesCanary(self)
