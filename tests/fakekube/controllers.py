"""Simulated controllers: ReplicaSet, StatefulSet, Endpoints, PodDisruptionBudget (the Deployment
controller lives in :mod:`.deployments`), and the manager thread that runs them all, plus the
kubelet, after every change and on a tick.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from .api import ENDPOINTS, PDBS, PODS, REPLICASETS, SERVICES, STATEFULSETS, Api, random_suffix
from .defaults import scaled_value, template_hash
from .events import NODE_NAME, EventRecorder
from .kubelet import pod_is_ready
from .selectors import map_selector_matches, selector_object_matches
from .store import Obj, jcopy
from .timefmt import now, parse_time, rfc3339

log = logging.getLogger(__name__)


def owned_by(obj: Obj, owner: Obj) -> bool:
    """Whether ``owner`` is the controller of ``obj`` (ownerReference with controller=true)."""
    uid = owner["metadata"]["uid"]
    return any(
        r.get("uid") == uid and r.get("controller") for r in obj["metadata"].get("ownerReferences") or []
    )


def owner_ref(owner: Obj) -> Obj:
    """A controller ownerReference pointing at ``owner``."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_active(pod: Obj) -> bool:
    """Counted by controllers: not terminating and not finished."""
    return "deletionTimestamp" not in pod["metadata"] and pod.get("status", {}).get("phase") not in (
        "Succeeded",
        "Failed",
    )


def omit_zero(status: Obj, *keys: str) -> Obj:
    """Drop ``omitempty`` integer fields that are 0, like the Go JSON encoder does."""
    for key in keys:
        if not status.get(key):
            status.pop(key, None)
    return status


class ReplicaSetController:
    """Keeps the number of pods of each ReplicaSet at ``spec.replicas``."""

    def __init__(self, api: Api, recorder: EventRecorder) -> None:
        self.api = api
        self.recorder = recorder

    def sync(self) -> None:
        for rs in self.api.store.view(REPLICASETS):
            current = self.api.store.peek(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
            if current is not None:
                self.sync_one(current)

    def sync_one(self, rs: Obj) -> None:
        """Reconcile one ReplicaSet (``rs`` is read-only)."""
        ns = rs["metadata"]["namespace"]
        pods = [p for p in self.api.store.view(PODS, ns) if owned_by(p, rs)]
        active = [p for p in pods if is_active(p)]
        want = rs["spec"].get("replicas", 1)
        if len(active) < want:
            for _ in range(want - len(active)):
                self._create_pod(rs)
        elif len(active) > want:
            for pod in sorted(active, key=_deletion_rank)[: len(active) - want]:
                self.api.delete(PODS, ns, pod["metadata"]["name"])
                self.recorder.record(
                    rs,
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    component="replicaset-controller",
                )
        pods = [p for p in self.api.store.view(PODS, ns) if owned_by(p, rs)]
        active = [p for p in pods if is_active(p)]
        labels_ok = [
            p for p in active if selector_object_matches(rs["spec"]["selector"], p["metadata"].get("labels"))
        ]
        ready = [p for p in active if pod_is_ready(p)]
        status = {
            "replicas": len(active),
            "fullyLabeledReplicas": len(labels_ok),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "terminatingReplicas": len(pods) - len(active),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        omit_zero(status, "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "terminatingReplicas")
        if rs.get("status") != status:
            current = self.api.store.get(REPLICASETS, ns, rs["metadata"]["name"])
            if current is not None:
                current["status"] = status
                self.api.update(REPLICASETS, ns, rs["metadata"]["name"], current, internal=True)

    def _create_pod(self, rs: Obj) -> None:
        template = jcopy(rs["spec"]["template"])
        meta = template.get("metadata") or {}
        meta.pop("creationTimestamp", None)
        name = f"{rs['metadata']['name']}-{random_suffix()}"
        meta.update(
            name=name,
            generateName=f"{rs['metadata']['name']}-",
            namespace=rs["metadata"]["namespace"],
            ownerReferences=[owner_ref(rs)],
        )
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}
        self.api.create(PODS, rs["metadata"]["namespace"], pod, internal=True)
        self.recorder.record(
            rs, "SuccessfulCreate", f"Created pod: {name}", component="replicaset-controller"
        )


def _deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """Which pods a scale-down removes first (``ActivePods`` ordering: least useful first)."""
    status = pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", "Pending"), 0)
    restarts = sum(cs.get("restartCount", 0) for cs in status.get("containerStatuses") or [])
    created = parse_time(pod["metadata"].get("creationTimestamp")) or 0.0
    return (
        bool(pod["spec"].get("nodeName")),
        phase_rank,
        pod_is_ready(pod),
        -restarts,
        -created,
        pod["metadata"]["name"],
    )


class StatefulSetController:
    """Ordered pods ``<name>-<ordinal>``, one step at a time (OrderedReady) and rolling updates."""

    def __init__(self, api: Api, recorder: EventRecorder) -> None:
        self.api = api
        self.recorder = recorder

    def sync(self) -> None:
        for sts in self.api.store.view(STATEFULSETS):
            current = self.api.store.peek(STATEFULSETS, sts["metadata"]["namespace"], sts["metadata"]["name"])
            if current is not None:
                self.sync_one(current)

    def sync_one(self, sts: Obj) -> None:
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        revision = f"{name}-{template_hash(sts['spec']['template'])}"
        want = sts["spec"].get("replicas", 1)
        parallel = sts["spec"].get("podManagementPolicy") == "Parallel"
        pods = {
            int(p["metadata"]["name"].rsplit("-", 1)[1]): p
            for p in self.api.store.view(PODS, ns)
            if owned_by(p, sts) and p["metadata"]["name"].rsplit("-", 1)[-1].isdigit()
        }
        changed = False
        # scale down, highest ordinal first
        extra = sorted((o for o in pods if o >= want), reverse=True)
        for ordinal in extra:
            pod = pods[ordinal]
            if is_active(pod):
                self.api.delete(PODS, ns, pod["metadata"]["name"])
                self.recorder.record(
                    sts,
                    "SuccessfulDelete",
                    f"delete Pod {pod['metadata']['name']} in StatefulSet {name} successful",
                    component="statefulset-controller",
                )
                changed = True
            if not parallel:
                break
        if not changed:
            for ordinal in range(want):
                pod = pods.get(ordinal)
                if pod is None:
                    self._create_pod(sts, ordinal, revision)
                    changed = True
                    if not parallel:
                        break
                elif not parallel and not (is_active(pod) and pod_is_ready(pod)):
                    break
        if not changed and all(is_active(p) and pod_is_ready(p) for o, p in pods.items() if o < want):
            stale = sorted(
                (
                    o
                    for o, p in pods.items()
                    if o < want
                    and is_active(p)
                    and p["metadata"].get("labels", {}).get("controller-revision-hash") != revision
                ),
                reverse=True,
            )
            if stale:
                pod = pods[stale[0]]
                self.api.delete(PODS, ns, pod["metadata"]["name"])
                self.recorder.record(
                    sts,
                    "SuccessfulDelete",
                    f"delete Pod {pod['metadata']['name']} in StatefulSet {name} successful",
                    component="statefulset-controller",
                )
        self._update_status(sts, revision)

    def _create_pod(self, sts: Obj, ordinal: int, revision: str) -> None:
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        pod_name = f"{name}-{ordinal}"
        template = jcopy(sts["spec"]["template"])
        meta = template.get("metadata") or {}
        meta.pop("creationTimestamp", None)
        labels = meta.setdefault("labels", {})
        labels.update(
            {
                "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": pod_name,
                "apps.kubernetes.io/pod-index": str(ordinal),
            }
        )
        meta.update(name=pod_name, namespace=ns, ownerReferences=[owner_ref(sts)], generateName=f"{name}-")
        spec = template.get("spec") or {}
        spec.setdefault("hostname", pod_name)
        if sts["spec"].get("serviceName"):
            spec.setdefault("subdomain", sts["spec"]["serviceName"])
        if self.api.store.get(PODS, ns, pod_name) is not None:
            return
        self.api.create(
            PODS, ns, {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}, internal=True
        )
        self.recorder.record(
            sts,
            "SuccessfulCreate",
            f"create Pod {pod_name} in StatefulSet {name} successful",
            component="statefulset-controller",
        )

    def _update_status(self, sts: Obj, revision: str) -> None:
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        current = self.api.store.get(STATEFULSETS, ns, name)
        if current is None:
            return
        pods = [p for p in self.api.store.view(PODS, ns) if owned_by(p, current) and is_active(p)]
        ready = [p for p in pods if pod_is_ready(p)]
        updated = [
            p for p in pods if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision
        ]
        old = current.get("status") or {}
        current_revision = old.get("currentRevision", revision)
        if len(updated) == len(pods) and len(pods) == current["spec"].get("replicas", 1):
            current_revision = revision
        status = {
            "observedGeneration": current["metadata"].get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": len(ready),
            "currentReplicas": len(
                [
                    p
                    for p in pods
                    if p["metadata"].get("labels", {}).get("controller-revision-hash") == current_revision
                ]
            ),
            "updatedReplicas": len(updated),
            "availableReplicas": len(ready),
            "currentRevision": current_revision,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        omit_zero(status, "readyReplicas", "currentReplicas", "updatedReplicas")
        if status != old:
            current["status"] = status
            self.api.update(STATEFULSETS, ns, name, current, internal=True)


def endpoint_subsets(api: Api, ns: str, svc: Obj) -> list[Obj]:
    """The ``subsets`` that the Endpoints of a selector-based Service list right now.

    Selected, non-terminating pods with an IP; ready ones (or all, with ``publishNotReadyAddresses``)
    in ``addresses``, the others in ``notReadyAddresses``; grouped by their resolved target ports.
    Shared by the Endpoints controller and the API server's service proxy, so that "an endpoint of
    the Service" means one thing in both (the proxy computes it live instead of reading the
    Endpoints object, so it never lags a controller pass behind the pods).
    """
    selector = svc["spec"]["selector"]
    publish_not_ready = svc["spec"].get("publishNotReadyAddresses", False)
    groups: dict[tuple[tuple[Any, ...], ...], dict[str, list[Obj]]] = {}
    pods = [
        p
        for p in api.store.view(PODS, ns)
        if map_selector_matches(selector, p["metadata"].get("labels"))
        and "deletionTimestamp" not in p["metadata"]
        and (p.get("status") or {}).get("podIP")
    ]
    for pod in sorted(pods, key=lambda p: p["status"]["podIP"]):
        ports = tuple(service_target_ports(svc, pod))
        address = {
            "ip": pod["status"]["podIP"],
            "nodeName": pod["spec"].get("nodeName", NODE_NAME),
            "targetRef": {
                "kind": "Pod",
                "namespace": ns,
                "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"],
            },
        }
        bucket = groups.setdefault(ports, {"addresses": [], "notReadyAddresses": []})
        ready = pod_is_ready(pod) or publish_not_ready
        bucket["addresses" if ready else "notReadyAddresses"].append(address)
    subsets = []
    for ports, bucket in groups.items():
        subset: Obj = {k: v for k, v in bucket.items() if v}
        if ports:
            subset["ports"] = [dict(p) for p in ports]
        subsets.append(subset)
    return subsets


def service_target_ports(svc: Obj, pod: Obj) -> list[tuple[tuple[str, Any], ...]]:
    """The Service's ports as Endpoints ports for ``pod`` (named targetPorts resolved; unresolvable ones
    left out), each as ``(("name", ...), ("port", ...), ("protocol", ...))``."""
    out = []
    for port in svc["spec"].get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and not target.isdigit():
            found = None
            for c in pod["spec"].get("containers") or []:
                for cp in c.get("ports") or []:
                    if cp.get("name") == target:
                        found = cp.get("containerPort")
            if found is None:
                continue
            target = found
        entry: list[tuple[str, Any]] = []
        if port.get("name"):
            entry.append(("name", port["name"]))
        entry += [("port", int(target)), ("protocol", port.get("protocol", "TCP"))]
        out.append(tuple(entry))
    return out


class EndpointsController:
    """Keeps an Endpoints object per selector-based Service: ready pod IPs in ``addresses``,
    others in ``notReadyAddresses``."""

    MANAGED = "endpoints.kubernetes.io/last-change-trigger-time"

    def __init__(self, api: Api) -> None:
        self.api = api

    def sync(self) -> None:
        services = {
            (s["metadata"]["namespace"], s["metadata"]["name"]): s for s in self.api.store.view(SERVICES)
        }
        for (ns, name), svc in services.items():
            if svc["spec"].get("selector"):
                self._sync_service(ns, name, svc)
        for ep in self.api.store.view(ENDPOINTS):
            key = (ep["metadata"]["namespace"], ep["metadata"]["name"])
            if key not in services and self.MANAGED in (ep["metadata"].get("annotations") or {}):
                self.api.remove(ENDPOINTS, *key)

    def _sync_service(self, ns: str, name: str, svc: Obj) -> None:
        subsets = endpoint_subsets(self.api, ns, svc)
        current = self.api.store.get(ENDPOINTS, ns, name)
        labels = dict(svc["metadata"].get("labels") or {})
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": labels,
                "annotations": {self.MANAGED: rfc3339(now())},
            },
        }
        if not labels:
            del body["metadata"]["labels"]
        if subsets:
            body["subsets"] = subsets
        if current is None:
            self.api.create(ENDPOINTS, ns, body, internal=True)
        elif current.get("subsets") != body.get("subsets") or current["metadata"].get("labels") != body[
            "metadata"
        ].get("labels"):
            current["subsets"] = subsets
            if not subsets:
                current.pop("subsets", None)
            current["metadata"]["labels"] = labels
            current["metadata"].setdefault("annotations", {})[self.MANAGED] = rfc3339(now())
            self.api.update(ENDPOINTS, ns, name, current, internal=True)


class DisruptionController:
    """Fills PodDisruptionBudget status (expected/healthy pods, disruptionsAllowed)."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def sync(self) -> None:
        for pdb in self.api.store.view(PDBS):
            self.sync_one(pdb)

    def sync_one(self, pdb: Obj) -> None:
        ns, name = pdb["metadata"]["namespace"], pdb["metadata"]["name"]
        spec = pdb.get("spec") or {}
        pods = [
            p
            for p in self.api.store.view(PODS, ns)
            if selector_object_matches(spec.get("selector"), p["metadata"].get("labels")) and is_active(p)
        ]
        if not spec.get("selector"):
            pods = []
        expected = self._expected(ns, pods)
        healthy = sum(1 for p in pods if pod_is_ready(p))
        if spec.get("minAvailable") is not None:
            desired = scaled_value(spec["minAvailable"], expected, True)
        elif spec.get("maxUnavailable") is not None:
            desired = max(expected - scaled_value(spec["maxUnavailable"], expected, True), 0)
        else:
            desired = expected
        allowed = max(healthy - desired, 0)
        old = pdb.get("status") or {}
        t = rfc3339(now())
        prev = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
        ok = allowed > 0
        condition = {
            "type": "DisruptionAllowed",
            "status": "True" if ok else "False",
            "reason": "SufficientPods" if ok else "InsufficientPods",
            "message": "",
            "observedGeneration": pdb["metadata"].get("generation", 1),
            "lastTransitionTime": prev["lastTransitionTime"]
            if prev and prev.get("status") == ("True" if ok else "False")
            else t,
        }
        status = {
            "observedGeneration": pdb["metadata"].get("generation", 1),
            "disruptionsAllowed": allowed,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "conditions": [condition],
        }
        if status != old:
            pdb = jcopy(pdb)
            pdb["status"] = status
            self.api.update(PDBS, ns, name, pdb, internal=True)

    def _expected(self, ns: str, pods: list[Obj]) -> int:
        owners: dict[str, int] = {}
        loose = 0
        for pod in pods:
            ref = next((r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
            if ref is None:
                loose += 1
                continue
            if ref["uid"] in owners:
                continue
            rt = (
                REPLICASETS
                if ref.get("kind") == "ReplicaSet"
                else STATEFULSETS
                if ref.get("kind") == "StatefulSet"
                else None
            )
            owner = self.api.store.get(rt, ns, ref["name"]) if rt else None
            owners[ref["uid"]] = owner["spec"].get("replicas", 1) if owner else 1
        return sum(owners.values()) + loose


class ControllerManager:
    """Runs every controller (and the kubelet) in one background thread.

    A pass runs right after any change in the store (the store wakes us) and at least every
    ``tick`` seconds (time-based behaviour such as crash-loop back-off needs the tick).
    """

    def __init__(self, api: Api, syncers: list[tuple[str, Callable[[], None]]], tick: float = 0.05) -> None:
        self.api = api
        self.syncers = syncers
        self.tick = tick
        self.errors: list[str] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pass_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.passes = 0
        api.store.add_listener(lambda _change: self._wake.set())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fakekube-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def run_pass(self) -> None:
        """Run every controller once (also callable from tests for determinism)."""
        with self._pass_lock, self.api.store.lock:
            for name, sync in self.syncers:
                try:
                    sync()
                except Exception:
                    err = f"{name}: {traceback.format_exc()}"
                    log.error("fakekube controller failed: %s", err)
                    self.errors.append(err)
                    del self.errors[:-20]
            self.passes += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.run_pass()
