"""The kubernetes target's rollouts: the Deployment's ReplicaSets as the history, ``kubectl rollout restart``,
``rollout undo`` and ``set image`` as patches, waited on with ``kubectl rollout status``'s rules.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from gameday import reasons
from gameday.targets.kubernetes import commands, rollout
from gameday.targets.kubernetes.core import POLL_S, ROLLOUT_TIMEOUT_S, KubernetesCore
from gameday.targets.model import Revision, TargetError

STALLED_REASONS = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                             "CreateContainerError", "InvalidImageName", "RunContainerError"})


def _now_iso() -> str:
    """RFC 3339 with microseconds: two restarts within one second must still change the pod template
    (kubectl's whole-second stamp makes it refuse a second restart in the same second)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class KubernetesRollouts(KubernetesCore):
    """The rollout history and what changes it."""

    def history(self) -> list[Revision]:
        """``kubectl rollout history``, each revision dated by when it became current (see
        :func:`.rollout.rolled_out_at`): the highest revision is the current one."""
        container = self._container_name()
        _, owned = self._replicasets()
        latest = max((rollout.revision_of(rs) for rs in owned), default=0)
        return [rollout.to_revision(rs, container, current=rollout.revision_of(rs) == latest) for rs in owned]

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
