"""The fault ledger in the cluster: one ConfigMap ``gameday-ledger-<id>`` per entry, in the target namespace.

One object per fault rather than one shared ConfigMap: the writers that meet here (the running game day adding,
updating and renewing its entries, ``gameday abort``/``halt`` on another machine removing them, the reaper
claiming expired ones) then contend only when they touch the same fault, and an update of one entry never has to
carry every other. Every update is a read, a change and a replace naming the resourceVersion read (the API
server's optimistic concurrency), retried on 409 Conflict; a claim is the same compare-and-swap with a condition
checked on the fresh copy, so a runner renewing and a reaper claiming at the same moment cannot both win.

The labels (``app.kubernetes.io/managed-by=gameday``, ``gameday.io/ledger``, ``gameday.io/fault``,
``gameday.io/run``) are for people (``kubectl get cm -l gameday.io/ledger``) and for finding the entries; what
an entry says is its ``entry`` key alone.

An entry written on one machine names that machine's kubeconfig; read on another it is rebound to the reader's
own kubeconfig and context (same namespace: the ledger lives in it), so ``gameday abort`` anywhere undoes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from gameday.config import Settings
from gameday.targets.kubernetes.client import KubeClient, KubeError
from gameday.targets.kubernetes.cluster import cluster

PREFIX = "gameday-ledger-"
ENTRY_KEY = "entry"
LEDGER_LABEL = "gameday.io/ledger"
FAULT_LABEL = "gameday.io/fault"
RUN_LABEL = "gameday.io/run"
MANAGED_BY = {"app.kubernetes.io/managed-by": "gameday"}
CONFLICT_RETRIES = 20
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.-]")


def label_value(text: str) -> str:
    """``text`` as a valid label value (63 characters of ``[A-Za-z0-9_.-]``, alphanumeric at both ends)."""
    return _NOT_LABEL.sub("-", str(text))[:63].strip("-_.")


class KubeLedgerStore:
    """Ledger entries as ConfigMaps in one namespace (see the module docstring)."""

    def __init__(self, kube: KubeClient, namespace: str, expiry_s: float) -> None:
        self.kube = kube
        self.ns = namespace
        self.expiry_s: float | None = expiry_s
        self.where = f"ConfigMaps {PREFIX}* in namespace {namespace}"

    @classmethod
    def for_settings(cls, settings: Settings) -> KubeLedgerStore:
        where = cluster(settings)
        return cls(KubeClient(where.kubeconfig, where.context), where.namespace, settings.kubernetes.lease_s)

    # --- objects ----------------------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        return {"kind": "kubernetes", "context": self.kube.context_name(), "namespace": self.ns,
                "kubeconfig": self.kube.kubeconfig}

    def _body(self, item: dict[str, Any], version: str | None = None) -> dict[str, Any]:
        labels = {**MANAGED_BY, LEDGER_LABEL: "entry", FAULT_LABEL: label_value(item.get("fault", "")),
                  RUN_LABEL: label_value(item.get("run_id", ""))}
        meta: dict[str, Any] = {"name": PREFIX + item["id"], "labels": {k: v for k, v in labels.items() if v}}
        if version:
            meta["resourceVersion"] = version
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                "data": {ENTRY_KEY: json.dumps(item, sort_keys=True)}}

    def _item(self, cm: Any) -> dict[str, Any] | None:
        try:
            item = json.loads((cm.data or {}).get(ENTRY_KEY, ""))
        except ValueError:
            return None  # not gameday's writing: never guessed at
        return item if isinstance(item, dict) and item.get("id") else None

    def _read(self, entry_id: str) -> tuple[dict[str, Any] | None, str | None]:
        try:
            cm = self.kube.call(f"read ConfigMap {PREFIX}{entry_id}", self.kube.core.read_namespaced_config_map,
                                PREFIX + entry_id, self.ns)
        except KubeError as exc:
            if exc.status == 404:
                return None, None
            raise
        return self._item(cm), cm.metadata.resource_version

    def _rebound(self, item: dict[str, Any]) -> dict[str, Any]:
        target = item.get("target") or {}
        if target.get("kind") == "kubernetes" and target.get("namespace") == self.ns:
            item["target"] = {**target, **self._identity()}
        return item

    # --- the store --------------------------------------------------------------------------------
    def load(self) -> list[dict[str, Any]]:
        found = self.kube.call("list the ledger's ConfigMaps", self.kube.core.list_namespaced_config_map, self.ns,
                               label_selector=f"{LEDGER_LABEL}=entry")
        items = [item for cm in found.items if (item := self._item(cm)) is not None]
        return [self._rebound(i) for i in sorted(items, key=lambda i: (i.get("created_at", 0), i["id"]))]

    def add(self, item: dict[str, Any]) -> None:
        self.kube.call(f"create ConfigMap {PREFIX}{item['id']}", self.kube.core.create_namespaced_config_map,
                       self.ns, self._body(item))

    def update(self, entry_id: str, changes: dict[str, Any],
               only_if: Callable[[dict[str, Any]], bool] | None = None) -> bool:
        for _ in range(CONFLICT_RETRIES):
            item, version = self._read(entry_id)
            if item is None or (only_if is not None and not only_if(item)):
                return False
            try:
                self.kube.call(f"replace ConfigMap {PREFIX}{entry_id}", self.kube.core.replace_namespaced_config_map,
                               PREFIX + entry_id, self.ns, self._body({**item, **changes}, version))
            except KubeError as exc:
                if exc.status == 409:
                    continue  # someone changed it since our read: read again, decide again
                if exc.status == 404:
                    return False
                raise
            return True
        raise KubeError(f"replace ConfigMap {PREFIX}{entry_id}: still conflicting after {CONFLICT_RETRIES} tries",
                        409)

    def remove(self, entry_id: str) -> None:
        try:
            self.kube.call(f"delete ConfigMap {PREFIX}{entry_id}", self.kube.core.delete_namespaced_config_map,
                           PREFIX + entry_id, self.ns)
        except KubeError as exc:
            if exc.status != 404:
                raise

    def locked_elsewhere(self) -> bool:
        return False  # no lock to hold: every change is one compare-and-swap on the API server
