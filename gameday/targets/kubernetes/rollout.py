"""Rollout history and ``kubectl rollout undo``'s semantics, as pure functions of the raw API objects.

kubectl's undo is client-side: it lists the Deployment's ReplicaSets (by owner uid), takes the given
revision or the second-highest ``deployment.kubernetes.io/revision``, refuses when the Deployment is
paused, skips when the template already matches (the pod-template-hash label ignored), and otherwise
JSON-patches ``/spec/template`` with the ReplicaSet's template (hash label removed) and
``/metadata/annotations`` with the ReplicaSet's annotations (change-cause ...) on top of the few the
Deployment keeps. The controller then reuses that ReplicaSet and gives it revision max+1.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from gameday.targets.model import Revision, TargetError

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"  # the numbers a reused ReplicaSet had before
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# annotations of the Deployment that a rollback keeps instead of taking the ReplicaSet's (kubectl's list)
ANNOTATIONS_TO_SKIP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
})

Obj = dict[str, Any]


def image_tag(image: str) -> str:
    """The tag of an image reference (``repo:tag`` or ``repo@digest``); '' when it has none."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def image_with_tag(image: str, version: str) -> str:
    """``version`` as an image: a full reference (has ':' or '/') as is, else the current repository with that tag."""
    if ":" in version or "/" in version or "@" in version:
        return version
    repo = image.split("@", 1)[0]
    head, _, last = repo.rpartition("/")
    name = last.split(":", 1)[0]
    return f"{head}/{name}:{version}" if head else f"{name}:{version}"


def revision_of(obj: Obj) -> int:
    """The revision annotation of a ReplicaSet or Deployment (0 when missing or malformed)."""
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def owned_replicasets(deployment: Obj, replicasets: list[Obj]) -> list[Obj]:
    """The ReplicaSets controlled by the Deployment (owner uid), oldest revision first."""
    uid = deployment["metadata"].get("uid")
    owned = [rs for rs in replicasets
             if any(ref.get("uid") == uid and ref.get("controller") for ref in rs["metadata"].get("ownerReferences")
                    or [])]
    return sorted(owned, key=revision_of)


def main_container(template: Obj, name: str) -> Obj:
    """The container called ``name``, else the first one."""
    containers = (template.get("spec") or {}).get("containers") or [{}]
    return next((c for c in containers if c.get("name") == name), containers[0])


def _timestamp(value: str | None) -> float:
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def last_written(obj: Obj) -> float:
    """When the object itself (not its status) was last changed, as the API server records it: the latest time in
    ``metadata.managedFields`` outside the status subresource (0.0 when nothing is recorded)."""
    times = [_timestamp(entry.get("time")) for entry in obj["metadata"].get("managedFields") or []
             if entry.get("subresource") != "status"]
    return max(times, default=0.0)


def rolled_out_at(rs: Obj, current: bool) -> float:
    """When the ReplicaSet's revision became current: its creation, unless it is the current revision and was
    brought back. A ReplicaSet brought back (``rollout undo``, an image set back) is the same object, created long
    ago; the controller moves its old number into ``deployment.kubernetes.io/revision-history``, gives it the next
    one and scales it up, and the API server dates that write. (Its later writes are scales: a ``kubectl scale``
    after an undo re-dates the undo. A ReplicaSet never brought back is dated by its creation alone, whatever
    scaled it since; an older revision's later writes are its scale-down, when it stopped being current.)"""
    created = _timestamp(rs["metadata"].get("creationTimestamp"))
    brought_back = bool((rs["metadata"].get("annotations") or {}).get(REVISION_HISTORY))
    return max(created, last_written(rs)) if current and brought_back else created


def to_revision(rs: Obj, container: str, current: bool = False) -> Revision:
    """A ReplicaSet as a rollout-history entry (version = its container image's tag; ``created_at`` = when it became
    current, :func:`rolled_out_at`)."""
    template = rs["spec"].get("template") or {}
    image = main_container(template, container).get("image", "")
    annotations = rs["metadata"].get("annotations") or {}
    return Revision(
        number=revision_of(rs),
        version=image_tag(image) or image,
        change_cause=annotations.get(CHANGE_CAUSE, ""),
        created_at=rolled_out_at(rs, current),
        config_hash=(rs["metadata"].get("labels") or {}).get(HASH_LABEL, ""),
    )


def _prune(value: Any) -> Any:
    """Drop nulls and empty maps/lists (kubectl and the server disagree on ``resources: {}``...)."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def template_without_hash(template: Obj) -> Obj:
    """A pod template with the pod-template-hash label removed (what kubectl writes back)."""
    tmpl = copy.deepcopy(template)
    labels = (tmpl.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    if "metadata" in tmpl:
        tmpl["metadata"].pop("creationTimestamp", None)
    return tmpl


def templates_equal(a: Obj, b: Obj) -> bool:
    """Equal ignoring the hash label, creationTimestamp and empty fields."""
    return _prune(template_without_hash(a)) == _prune(template_without_hash(b))


def pick_revision(owned: list[Obj], to_revision: int | None) -> Obj:
    """The ReplicaSet to roll back to: the given revision, or the previous one (second-highest)."""
    if not owned:
        raise TargetError("no rollout history found")
    if to_revision:
        for rs in owned:
            if revision_of(rs) == to_revision:
                return rs
        raise TargetError(f"unable to find specified revision {to_revision} in history")
    revisions = sorted({revision_of(rs) for rs in owned})
    if len(revisions) < 2:
        raise TargetError("no previous revision to roll back to (only one in the history)")
    previous = revisions[-2]
    return next(rs for rs in owned if revision_of(rs) == previous)


def rollback_patch(deployment: Obj, rs: Obj) -> list[Obj]:
    """kubectl's JSON patch: the ReplicaSet's template (hash label removed) and annotations."""
    kept = {k: v for k, v in (deployment["metadata"].get("annotations") or {}).items() if k in ANNOTATIONS_TO_SKIP}
    taken = {k: v for k, v in (rs["metadata"].get("annotations") or {}).items() if k not in ANNOTATIONS_TO_SKIP}
    return [
        {"op": "replace", "path": "/spec/template", "value": template_without_hash(rs["spec"]["template"])},
        {"op": "add", "path": "/metadata/annotations", "value": {**kept, **taken}},
    ]
