"""The Deployment controller: rollouts through ReplicaSets, like kube-controller-manager's.

* a new ReplicaSet ``<deployment>-<pod-template-hash>`` per distinct pod template (templates are
  normalised before comparing, see :func:`.defaults.normalise_template`);
* ``deployment.kubernetes.io/revision`` on ReplicaSets and the Deployment: max+1 for a new template;
  a ReplicaSet whose template comes back (``kubectl rollout undo``) is reused and gets max+1, its
  old number moving into ``deployment.kubernetes.io/revision-history``;
* RollingUpdate (maxSurge/maxUnavailable, as in ``rolling.go``) and Recreate; ``spec.paused``;
* its writes of a ReplicaSet (revision, scale) recorded in ``managedFields`` as ``kube-controller-manager``'s,
  with the time: how a cluster dates when a reused ReplicaSet became current again;
* annotations copied onto the new ReplicaSet (``kubernetes.io/change-cause``...), old ReplicaSets
  beyond ``revisionHistoryLimit`` deleted;
* status: replicas, updated/ready/available/unavailable, observedGeneration, and the conditions
  Available and Progressing (NewReplicaSetCreated, ReplicaSetUpdated, NewReplicaSetAvailable,
  DeploymentPaused, DeploymentResumed, ProgressDeadlineExceeded).
"""

from __future__ import annotations

from .api import DEPLOYMENTS, PODS, REPLICASETS, Api
from .controllers import omit_zero, owned_by, owner_ref
from .defaults import POD_TEMPLATE_HASH, scaled_value, template_hash, templates_equal
from .events import EventRecorder
from .store import Obj, jcopy
from .timefmt import now, parse_time, rfc3339

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
#: the writer the real server records for the Deployment controller's writes (``managedFields``)
MANAGER = "kube-controller-manager"
#: deployment annotations that are not copied onto its ReplicaSets (``skipCopyAnnotation``)
SKIP_COPY = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
}


def _revision(obj: Obj) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


class DeploymentController:
    """Rolls Deployments out through ReplicaSets (RollingUpdate and Recreate), like kube's."""

    def __init__(self, api: Api, recorder: EventRecorder) -> None:
        self.api = api
        self.recorder = recorder

    def sync(self) -> None:
        for d in self.api.store.view(DEPLOYMENTS):
            current = self.api.store.peek(DEPLOYMENTS, d["metadata"]["namespace"], d["metadata"]["name"])
            if current is not None:
                self.sync_one(current)

    # -- helpers ---------------------------------------------------------------------------------------
    def _rs_list(self, d: Obj) -> list[Obj]:
        """The Deployment's ReplicaSets (stored objects: read-only)."""
        return [rs for rs in self.api.store.view(REPLICASETS, d["metadata"]["namespace"]) if owned_by(rs, d)]

    def _scale(self, d: Obj, rs: Obj, replicas: int) -> Obj:
        old = rs["spec"].get("replicas", 0)
        if old == replicas and (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS) == str(
            d["spec"]["replicas"]
        ):
            return rs
        rs = jcopy(rs)
        rs["spec"]["replicas"] = replicas
        ann = rs["metadata"].setdefault("annotations", {})
        ann[DESIRED_REPLICAS] = str(d["spec"]["replicas"])
        ann[MAX_REPLICAS] = str(d["spec"]["replicas"] + self._max_surge(d))
        rs = self.api.update(
            REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"], rs, internal=True, manager=MANAGER
        )
        if old != replicas:
            direction = "up" if replicas > old else "down"
            self.recorder.record(
                d,
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs['metadata']['name']} to {replicas} from {old}",
                component="deployment-controller",
            )
        return rs

    @staticmethod
    def _max_surge(d: Obj) -> int:
        strategy = d["spec"].get("strategy") or {}
        if strategy.get("type") != "RollingUpdate":
            return 0
        ru = strategy.get("rollingUpdate") or {}
        replicas = d["spec"]["replicas"]
        surge = scaled_value(ru.get("maxSurge", "25%"), replicas, True)
        unavailable = scaled_value(ru.get("maxUnavailable", "25%"), replicas, False)
        if surge == 0 and unavailable == 0:
            return 0
        return surge

    @staticmethod
    def _max_unavailable(d: Obj) -> int:
        strategy = d["spec"].get("strategy") or {}
        replicas = d["spec"]["replicas"]
        if strategy.get("type") != "RollingUpdate" or replicas == 0:
            return 0
        ru = strategy.get("rollingUpdate") or {}
        surge = scaled_value(ru.get("maxSurge", "25%"), replicas, True)
        unavailable = scaled_value(ru.get("maxUnavailable", "25%"), replicas, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return min(unavailable, replicas)

    # -- new ReplicaSet / revisions --------------------------------------------------------------------
    def _ensure_new_rs(self, d: Obj, rss: list[Obj]) -> Obj:
        ns = d["metadata"]["namespace"]
        max_rev = max((_revision(rs) for rs in rss), default=0)
        matching = [rs for rs in rss if templates_equal(rs["spec"]["template"], d["spec"]["template"])]
        copied = {k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k not in SKIP_COPY}
        if matching:
            rs = jcopy(sorted(matching, key=lambda r: r["metadata"]["creationTimestamp"])[0])
            ann = rs["metadata"].setdefault("annotations", {})
            before = dict(ann)
            current = _revision(rs)
            if current < max_rev or (
                current == max_rev and sum(1 for r in rss if _revision(r) == max_rev) > 1
            ):
                history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h]
                if current:
                    history.append(str(current))
                ann[REVISION_HISTORY] = ",".join(history)
                ann[REVISION] = str(max_rev + 1)
            elif not current:
                ann[REVISION] = str(max_rev + 1)
            ann.update(copied)
            if ann != before:
                rs = self.api.update(REPLICASETS, ns, rs["metadata"]["name"], rs, internal=True, manager=MANAGER)
            return rs
        collision = d.get("status", {}).get("collisionCount", 0)
        while True:
            hash_ = template_hash(d["spec"]["template"], collision)
            name = f"{d['metadata']['name']}-{hash_}"
            if self.api.store.get(REPLICASETS, ns, name) is None:
                break
            collision += 1
        template = jcopy(d["spec"]["template"])
        tmeta = template.setdefault("metadata", {})
        tmeta.pop("creationTimestamp", None)
        tmeta.setdefault("labels", {})[POD_TEMPLATE_HASH] = hash_
        selector = jcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = hash_
        annotations = dict(copied)
        annotations.update(
            {
                REVISION: str(max_rev + 1),
                DESIRED_REPLICAS: str(d["spec"]["replicas"]),
                MAX_REPLICAS: str(d["spec"]["replicas"] + self._max_surge(d)),
            }
        )
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": dict(tmeta["labels"]),
                "annotations": annotations,
                "ownerReferences": [owner_ref(d)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        if not rs["spec"]["minReadySeconds"]:
            del rs["spec"]["minReadySeconds"]
        return self.api.create(REPLICASETS, ns, rs, internal=True, manager=MANAGER)

    # -- the rollout -----------------------------------------------------------------------------------
    def sync_one(self, d: Obj) -> None:
        rss = self._rs_list(d)
        if d["spec"].get("paused"):
            matching = [rs for rs in rss if templates_equal(rs["spec"]["template"], d["spec"]["template"])]
            new_rs = matching[0] if matching else None
            if new_rs is not None and len(rss) == 1:
                self._scale(d, new_rs, d["spec"]["replicas"])
            self._update_status(d, new_rs, self._rs_list(d), paused=True)
            return
        new_rs = self._ensure_new_rs(d, rss)
        rss = self._rs_list(d)
        new_rs = next(rs for rs in rss if rs["metadata"]["uid"] == new_rs["metadata"]["uid"])
        old_rss = [rs for rs in rss if rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        strategy = (d["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            self._recreate(d, new_rs, old_rss)
        else:
            self._rolling(d, new_rs, old_rss)
        rss = self._rs_list(d)
        new_rs = next((rs for rs in rss if rs["metadata"]["uid"] == new_rs["metadata"]["uid"]), new_rs)
        self._cleanup(d, new_rs, rss)
        self._sync_revision_annotation(d, new_rs)
        self._update_status(d, new_rs, self._rs_list(d), paused=False)

    def _recreate(self, d: Obj, new_rs: Obj, old_rss: list[Obj]) -> None:
        active_old = [rs for rs in old_rss if rs["spec"].get("replicas", 0) > 0]
        for rs in active_old:
            self._scale(d, rs, 0)
        if active_old:
            return
        ns = d["metadata"]["namespace"]
        old_uids = {rs["metadata"]["uid"] for rs in old_rss}
        leftovers = [
            p
            for p in self.api.store.view(PODS, ns)
            if any(r.get("uid") in old_uids for r in p["metadata"].get("ownerReferences") or [])
        ]
        if leftovers:
            return  # wait until every old pod is gone
        self._scale(d, new_rs, d["spec"]["replicas"])

    def _rolling(self, d: Obj, new_rs: Obj, old_rss: list[Obj]) -> None:
        replicas = d["spec"]["replicas"]
        max_surge = self._max_surge(d)
        max_unavailable = self._max_unavailable(d)
        all_rss = [new_rs, *old_rss]
        # reconcileNewReplicaSet
        new_count = new_rs["spec"].get("replicas", 0)
        if new_count > replicas:
            new_rs = self._scale(d, new_rs, replicas)
        elif new_count < replicas:
            current = sum(rs["spec"].get("replicas", 0) for rs in all_rss)
            max_total = replicas + max_surge
            if current < max_total:
                up = min(max_total - current, replicas - new_count)
                new_rs = self._scale(d, new_rs, new_count + up)
        # reconcileOldReplicaSets
        old_rss = [
            self.api.store.get(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"]) or jcopy(rs)
            for rs in old_rss
        ]
        old_total = sum(rs["spec"].get("replicas", 0) for rs in old_rss)
        if old_total == 0:
            return
        all_total = old_total + new_rs["spec"].get("replicas", 0)
        min_available = replicas - max_unavailable
        new_unavailable = new_rs["spec"].get("replicas", 0) - new_rs.get("status", {}).get(
            "availableReplicas", 0
        )
        max_scaled_down = all_total - min_available - new_unavailable
        if max_scaled_down <= 0:
            return
        # cleanupUnhealthyReplicas: old pods that are not available go first
        for rs in sorted(old_rss, key=lambda r: r["metadata"]["creationTimestamp"]):
            if max_scaled_down <= 0:
                break
            spec_replicas = rs["spec"].get("replicas", 0)
            unhealthy = spec_replicas - rs.get("status", {}).get("availableReplicas", 0)
            if spec_replicas == 0 or unhealthy <= 0:
                continue
            down = min(max_scaled_down, unhealthy)
            scaled = self._scale(d, rs, spec_replicas - down)
            rs["spec"]["replicas"] = scaled["spec"]["replicas"]  # rs is a private copy here
            max_scaled_down -= down
        # scaleDownOldReplicaSetsForRollingUpdate
        available = sum(rs.get("status", {}).get("availableReplicas", 0) for rs in [new_rs, *old_rss])
        if available <= min_available:
            return
        total_down = available - min_available
        for rs in sorted(old_rss, key=lambda r: r["metadata"]["creationTimestamp"]):
            if total_down <= 0:
                break
            spec_replicas = rs["spec"].get("replicas", 0)
            if spec_replicas == 0:
                continue
            down = min(spec_replicas, total_down)
            self._scale(d, rs, spec_replicas - down)
            total_down -= down

    def _cleanup(self, d: Obj, new_rs: Obj, rss: list[Obj]) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        old = [
            rs
            for rs in rss
            if rs["metadata"]["uid"] != new_rs["metadata"]["uid"]
            and rs["spec"].get("replicas", 0) == 0
            and rs.get("status", {}).get("replicas", 0) == 0
        ]
        old.sort(key=_revision)
        for rs in old[: max(len(old) - limit, 0)]:
            self.api.remove(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _sync_revision_annotation(self, d: Obj, new_rs: Obj) -> None:
        rev = (new_rs["metadata"].get("annotations") or {}).get(REVISION)
        current = self.api.store.get(DEPLOYMENTS, d["metadata"]["namespace"], d["metadata"]["name"])
        if current is None or rev is None:
            return
        ann = current["metadata"].setdefault("annotations", {})
        if ann.get(REVISION) != rev:
            ann[REVISION] = rev
            self.api.update(
                DEPLOYMENTS, d["metadata"]["namespace"], d["metadata"]["name"], current, internal=True,
                manager=MANAGER,
            )

    def _update_status(self, d: Obj, new_rs: Obj | None, rss: list[Obj], *, paused: bool) -> None:
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        current = self.api.store.get(DEPLOYMENTS, ns, name)
        if current is None:
            return
        replicas = current["spec"]["replicas"]

        def st(rs: Obj, key: str) -> int:
            return (rs.get("status") or {}).get(key, 0)

        total = sum(st(rs, "replicas") for rs in rss)
        updated = st(new_rs, "replicas") if new_rs else 0
        ready = sum(st(rs, "readyReplicas") for rs in rss)
        available = sum(st(rs, "availableReplicas") for rs in rss)
        terminating = sum(st(rs, "terminatingReplicas") for rs in rss)
        old_status = current.get("status") or {}
        old_conds = {c["type"]: c for c in old_status.get("conditions") or []}
        t = now()
        conds: list[Obj] = []

        def cond(ctype: str, status: str, reason: str, message: str, progress: bool) -> Obj:
            prev = old_conds.get(ctype)
            c = {
                "type": ctype,
                "status": status,
                "lastUpdateTime": rfc3339(t),
                "lastTransitionTime": rfc3339(t),
                "reason": reason,
                "message": message,
            }
            if prev is not None:
                if prev.get("status") == status:
                    c["lastTransitionTime"] = prev.get("lastTransitionTime", c["lastTransitionTime"])
                if prev.get("status") == status and prev.get("reason") == reason and not progress:
                    c["lastUpdateTime"] = prev.get("lastUpdateTime", c["lastUpdateTime"])
            return c

        min_available = replicas - self._max_unavailable(current)
        if available >= min_available:
            conds.append(
                cond(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    False,
                )
            )
        else:
            conds.append(
                cond(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                    False,
                )
            )
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        complete = (
            new_rs is not None
            and updated == replicas
            and available == replicas
            and total == replicas
            and st(new_rs, "availableReplicas") == replicas
        )
        counts = (total, updated, ready, available)
        old_counts = tuple(
            old_status.get(k, 0)
            for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
        )
        progressed = counts != old_counts
        prev_prog = old_conds.get("Progressing")
        if paused:
            conds.append(cond("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", False))
        elif complete:
            conds.append(
                cond(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.',
                    progressed,
                )
            )
        else:
            deadline = current["spec"].get("progressDeadlineSeconds", 600)
            last = parse_time(prev_prog.get("lastUpdateTime")) if prev_prog else None
            resumed = prev_prog is not None and prev_prog.get("reason") == "DeploymentPaused"
            if (
                prev_prog is not None
                and prev_prog.get("reason") == "ProgressDeadlineExceeded"
                and not progressed
            ) or (last is not None and not progressed and not resumed and t - last > deadline):
                conds.append(
                    cond(
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        f'ReplicaSet "{rs_name}" has timed out progressing.',
                        False,
                    )
                )
            elif resumed:
                conds.append(
                    cond("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", True)
                )
            else:
                reason, message = "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'
                if prev_prog is None or (st(new_rs, "replicas") == 0 if new_rs else True):
                    reason, message = "NewReplicaSetCreated", f'Created new replica set "{rs_name}"'
                conds.append(cond("Progressing", "True", reason, message, progressed or prev_prog is None))
        # keep the order the real controller produces: Available first, then Progressing
        status = {
            "observedGeneration": current["metadata"].get("generation", 1),
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(replicas - available, 0),
            "terminatingReplicas": terminating,
            "conditions": conds,
        }
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        omit_zero(
            status,
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
            "terminatingReplicas",
        )
        if status != old_status:
            current["status"] = status
            self.api.update(DEPLOYMENTS, ns, name, current, internal=True)
