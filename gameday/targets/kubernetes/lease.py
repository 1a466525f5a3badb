"""The run lock as a coordination.k8s.io/v1 Lease ``gameday-<name>`` in the target namespace.

The holder (pid, host, run id, since, command) is the annotation ``gameday.io/holder``; the Lease's own fields say
the same for ``kubectl get lease`` and anything that reads Leases: ``holderIdentity`` (``host/pid``),
``acquireTime``, ``renewTime`` (the holder's last renewal) and ``leaseDurationSeconds`` (how long after it the lock
is free). A live holder renews; a dead one's lock expires on its own, wherever it ran. Every change is a
compare-and-swap: create fails when the Lease exists, replace and delete name the resourceVersion read.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from gameday.targets.kubernetes.client import KubeClient, KubeError

HOLDER = "gameday.io/holder"
MANAGED_BY = {"app.kubernetes.io/managed-by": "gameday"}


def micro_time(ts: float) -> str:
    """A Kubernetes MicroTime (RFC 3339, microseconds)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseRecord:
    """The lock record of :mod:`gameday.guard.records`, stored as a Lease."""

    def __init__(self, kube: KubeClient, namespace: str, name: str) -> None:
        self.kube = kube
        self.ns = namespace
        self.name = f"gameday-{name}"
        self.where = f"Lease {self.name} in namespace {namespace}"

    def _read(self) -> tuple[dict[str, Any] | None, Any]:
        try:
            lease = self.kube.call(f"read Lease {self.name}", self.kube.coordination.read_namespaced_lease,
                                   self.name, self.ns)
        except KubeError as exc:
            if exc.status == 404:
                return None, None
            raise
        if not (lease.spec and lease.spec.holder_identity):
            return None, lease  # released (or written by something else that cleared it): free
        try:
            holder = json.loads((lease.metadata.annotations or {}).get(HOLDER, ""))
        except ValueError:
            holder = None
        if not isinstance(holder, dict):  # held by something that is not gameday: a holder all the same
            spec = lease.spec
            renewed = (spec.renew_time or spec.acquire_time)
            holder = {"host": spec.holder_identity, "pid": 0, "command": "not gameday",
                      "since": spec.acquire_time.timestamp() if spec.acquire_time else 0.0,
                      "renewed": renewed.timestamp() if renewed else None,
                      "lease_s": float(spec.lease_duration_seconds or 0) or None}
        return holder, lease

    def _body(self, data: dict[str, Any], previous: Any = None) -> dict[str, Any]:
        identity = f"{data.get('host')}/{data.get('pid')}"
        transitions = 0
        meta: dict[str, Any] = {"name": self.name, "labels": dict(MANAGED_BY),
                                "annotations": {HOLDER: json.dumps(data, sort_keys=True)}}
        if previous is not None:
            meta["resourceVersion"] = previous.metadata.resource_version
            transitions = (previous.spec.lease_transitions or 0) if previous.spec else 0
            if previous.spec is None or previous.spec.holder_identity != identity:
                transitions += 1
        spec: dict[str, Any] = {"holderIdentity": identity, "leaseTransitions": transitions,
                                "acquireTime": micro_time(float(data.get("since") or 0))}
        if data.get("lease_s"):
            spec["leaseDurationSeconds"] = max(1, math.ceil(float(data["lease_s"])))
            spec["renewTime"] = micro_time(float(data.get("renewed") or data.get("since") or 0))
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}

    def read(self) -> dict[str, Any] | None:
        return self._read()[0]

    def create(self, data: dict[str, Any]) -> bool:
        holder, lease = self._read()
        if lease is not None:  # a released Lease stays as an object: taking it is a swap from "free"
            return holder is None and self._replace(lease, data)
        try:
            self.kube.call(f"create Lease {self.name}", self.kube.coordination.create_namespaced_lease,
                           self.ns, self._body(data))
        except KubeError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def swap(self, expected: dict[str, Any] | None, data: dict[str, Any] | None) -> bool:
        current, lease = self._read()
        if current != expected:
            return False
        if lease is None:
            return data is None or self.create(data)
        if data is not None:
            return self._replace(lease, data)
        try:
            self.kube.call(f"delete Lease {self.name}", self.kube.coordination.delete_namespaced_lease,
                           self.name, self.ns,
                           body={"preconditions": {"resourceVersion": lease.metadata.resource_version}})
        except KubeError as exc:
            if exc.status in (404, 409):
                return False  # someone else changed it first
            raise
        return True

    def _replace(self, lease: Any, data: dict[str, Any]) -> bool:
        try:
            self.kube.call(f"replace Lease {self.name}", self.kube.coordination.replace_namespaced_lease,
                           self.name, self.ns, self._body(data, lease))
        except KubeError as exc:
            if exc.status in (404, 409):
                return False
            raise
        return True
