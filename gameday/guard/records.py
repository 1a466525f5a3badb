"""Small named records every operator of a target sees: the lock and the halt record.

Local target: JSON files in the state directory, changed under an exclusive ``flock``. Kubernetes: a
ConfigMap ``gameday-<name>`` in the target namespace (so operators on other machines see it), changed
with the API server's optimistic concurrency (create fails when it exists; replace names the
resourceVersion read); the lock is a Lease ``gameday-lock`` instead (:mod:`gameday.targets.kubernetes.lease`),
which its holder renews every third of ``kubernetes.lease_s`` (``lease_s`` here; None: records that need no
renewal, the local target's). Both offer the same three operations: read, create-if-absent, compare-and-swap.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from gameday.config import Settings
from gameday.ledger import Ledger
from gameday.state import StateDir, read_json, write_json_atomic
from gameday.targets import ledger_for
from gameday.targets.kubernetes.client import KubeClient, KubeError
from gameday.targets.kubernetes.cluster import cluster
from gameday.targets.kubernetes.lease import LeaseRecord

RECORD_KEY = "record"
LEASED = ("lock",)  # records kept as Leases on kubernetes (the lock: renewed by its holder, expires without)


class Records(Protocol):
    """Where named records live for one target."""

    where: str
    lease_s: float | None  # the lock expires this long after its holder's last renewal; None: it never expires

    def read(self, name: str) -> dict[str, Any] | None:
        """The record, or None."""

    def where_of(self, name: str) -> str:
        """Where one record lives, for people."""

    def ledger(self) -> Ledger:
        """The ledger of the same target (its entries are renewed with the lock)."""

    def create(self, name: str, data: dict[str, Any]) -> bool:
        """Write the record if there is none; False when one exists."""

    def swap(self, name: str, expected: dict[str, Any] | None, data: dict[str, Any] | None) -> bool:
        """Replace (or delete, with ``data=None``) the record if it is still ``expected``; False otherwise."""


class LocalRecords:
    """Records as ``<state dir>/<name>.json``."""

    lease_s: float | None = None

    def __init__(self, state_dir: Path) -> None:
        self.state = StateDir(state_dir).ensure()
        self.where = str(self.state.root)

    def where_of(self, name: str) -> str:
        return self.where

    def ledger(self) -> Ledger:
        return Ledger(self.state.ledger)

    def _path(self, name: str) -> Path:
        return self.state.path(f"{name}.json")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self.state.path("guard.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def read(self, name: str) -> dict[str, Any] | None:
        try:
            data = read_json(self._path(name))
        except (ValueError, OSError):
            return None  # half a record cannot be: writes are atomic; an unreadable one counts as none
        return data if isinstance(data, dict) else None

    def create(self, name: str, data: dict[str, Any]) -> bool:
        with self._locked():
            if self.read(name) is not None:
                return False
            write_json_atomic(self._path(name), data)
            return True

    def swap(self, name: str, expected: dict[str, Any] | None, data: dict[str, Any] | None) -> bool:
        with self._locked():
            if self.read(name) != expected:
                return False
            if data is None:
                self._path(name).unlink(missing_ok=True)
            else:
                write_json_atomic(self._path(name), data)
            return True


class KubeRecords:
    """Records as ConfigMaps ``gameday-<name>`` in the target namespace."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kube = KubeClient(settings.kubernetes.kubeconfig, settings.kubernetes.context)
        self.ns = cluster(settings).namespace
        self.where = f"ConfigMaps in namespace {self.ns}"
        self.lease_s: float | None = settings.kubernetes.lease_s
        self._leases = {name: LeaseRecord(self.kube, self.ns, name) for name in LEASED}

    def where_of(self, name: str) -> str:
        return self._leases[name].where if name in self._leases else self.where

    def ledger(self) -> Ledger:
        return ledger_for(self.settings)

    def _read(self, name: str) -> tuple[dict[str, Any] | None, str | None]:
        try:
            cm = self.kube.call(f"read ConfigMap gameday-{name}", self.kube.core.read_namespaced_config_map,
                                f"gameday-{name}", self.ns)
        except KubeError as exc:
            if exc.status == 404:
                return None, None
            raise
        try:
            data = json.loads((cm.data or {}).get(RECORD_KEY, ""))
        except ValueError:
            data = None
        return (data if isinstance(data, dict) else None), cm.metadata.resource_version

    def read(self, name: str) -> dict[str, Any] | None:
        if name in self._leases:
            return self._leases[name].read()
        return self._read(name)[0]

    def _body(self, name: str, data: dict[str, Any], version: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": f"gameday-{name}", "labels": {"app.kubernetes.io/managed-by": "gameday"}}
        if version:
            meta["resourceVersion"] = version
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                "data": {RECORD_KEY: json.dumps(data, sort_keys=True)}}

    def create(self, name: str, data: dict[str, Any]) -> bool:
        if name in self._leases:
            return self._leases[name].create(data)
        try:
            self.kube.call(f"create ConfigMap gameday-{name}", self.kube.core.create_namespaced_config_map,
                           self.ns, self._body(name, data))
        except KubeError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def swap(self, name: str, expected: dict[str, Any] | None, data: dict[str, Any] | None) -> bool:
        if name in self._leases:
            return self._leases[name].swap(expected, data)
        current, version = self._read(name)
        if current != expected:
            return False
        if current is None:
            return data is None or self.create(name, data)
        try:
            if data is None:
                self.kube.call(f"delete ConfigMap gameday-{name}", self.kube.core.delete_namespaced_config_map,
                               f"gameday-{name}", self.ns, body={"preconditions": {"resourceVersion": version}})
            else:
                self.kube.call(f"replace ConfigMap gameday-{name}", self.kube.core.replace_namespaced_config_map,
                               f"gameday-{name}", self.ns, self._body(name, data, version))
        except KubeError as exc:
            if exc.status in (404, 409):
                return False  # someone else changed it first
            raise
        return True


def records_for(settings: Settings) -> Records:
    """The records of the configured target (call the allowlist guard first: this may reach the API server)."""
    if settings.target == "kubernetes":
        return KubeRecords(settings)
    return LocalRecords(settings.state_dir)
