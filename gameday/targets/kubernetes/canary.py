"""The canary on a cluster: a Deployment ``<deployment>-canary`` of the new image behind the same Service.

Its pods carry the primary's pod labels (so the Service selects them) plus ``gameday.io/track=canary``, and its
selector includes that label, so its ReplicaSet owns only its own pods (ReplicaSets adopt by controller reference,
never pods another controller owns). Sized by replica ratio: a step of ``k`` canary replicas scales the primary to
``N - k``, so the new release gets ``k/N`` of the Service's traffic. The primary's template, and so its rollout
history, is untouched until promotion, which is an ordinary ``set image`` of the primary (its next revision); a
rollback deletes the canary and scales the primary back, leaving its current revision the one that serves. ``N``
is kept in an annotation on the canary Deployment and in the ledger, so :meth:`undo` works from any process.

Per side measurement needs the replicas' own metrics per pod in Prometheus; this target has none to read, so
:meth:`unmeasurable` says so and ``gameday canary`` refuses before creating anything: no data is never a pass.
The objects, the sizing and the undo are what the tests drive against the fake API server.
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gameday import reasons
from gameday.targets.base import Revision, TargetError
from gameday.targets.canary import CanaryDriver, Served, Window
from gameday.targets.kubernetes import convert, rollout
from gameday.targets.kubernetes.client import KubeError
from gameday.targets.kubernetes.policies import MANAGED_BY

if TYPE_CHECKING:
    from gameday.targets.kubernetes.target import KubernetesTarget

TRACK = "gameday.io/track"
PRIMARY_REPLICAS = "gameday.io/primary-replicas"  # on the canary Deployment: the primary's size before the canary
POLL_S = 0.1
STALLED = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                     "CreateContainerError", "InvalidImageName", "RunContainerError"})


class KubernetesCanary(CanaryDriver):
    """A canary Deployment beside the service's Deployment."""

    def __init__(self, target: KubernetesTarget) -> None:
        self.t = target
        self.name = f"{target.kube.deployment}-canary"
        self.version: str | None = None
        self.replicas: int | None = None
        self._ever: list[str] = []

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
        return {"deployment": self.name, "primary_replicas": self.replica_count()}

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

    def mark(self) -> Window:
        return Window(time.time())

    def unmeasurable(self) -> str | None:
        return (f"the {self.t.name} target has no per-pod record of requests to compare the canary with the "
                "primary (the load balancer's are the Service's, and no Prometheus is configured for it)")

    def served(self, since: Window) -> tuple[Served, Served]:
        raise TargetError(self.unmeasurable() or "no per-pod records")

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
        return self._restore(self.replica_count(), timeout)

    def undo(self, saved: dict[str, Any], timeout: float) -> Revision | None:
        return self._restore(int(saved["primary_replicas"]), timeout)

    def _restore(self, replicas: int, timeout: float) -> Revision:
        """The canary deleted, the primary at its size again on the revision it never left."""
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
