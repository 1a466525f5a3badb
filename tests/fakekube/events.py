"""core/v1 Events recorded by the simulated controllers and kubelet (with aggregation)."""

from __future__ import annotations

import secrets
from typing import Any

from .store import Obj
from .timefmt import now, rfc3339, rfc3339_micro

NODE_NAME = "fake-node"


class EventRecorder:
    """Writes Events through the API; repeats of the same event bump ``count``/``lastTimestamp``."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self._seen: dict[tuple[str, ...], str] = {}

    def record(
        self,
        involved: Obj,
        reason: str,
        message: str,
        *,
        type: str = "Normal",
        component: str,
        field_path: str | None = None,
    ) -> None:
        """Emit (or aggregate) one Event about ``involved``."""
        from .api import EVENTS  # local import: api imports nothing from here

        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (namespace, meta.get("uid", ""), reason, message, type, component, field_path or "")
        ts = now()
        with self.api.store.lock:
            name = self._seen.get(key)
            existing = self.api.store.get(EVENTS, namespace, name) if name else None
            if existing is not None:
                existing["count"] = existing.get("count", 1) + 1
                existing["lastTimestamp"] = rfc3339(ts)
                self.api.update(EVENTS, namespace, name, existing, internal=True)
                return
            ref = {
                "kind": involved.get("kind"),
                "namespace": meta.get("namespace"),
                "name": meta.get("name"),
                "uid": meta.get("uid"),
                "apiVersion": involved.get("apiVersion"),
                "resourceVersion": meta.get("resourceVersion"),
            }
            if field_path:
                ref["fieldPath"] = field_path
            if not ref["namespace"]:
                del ref["namespace"]
            source: dict[str, str] = {"component": component}
            if component == "kubelet":
                source["host"] = NODE_NAME
            name = f"{meta.get('name')}.{secrets.token_hex(8)}"
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": ref,
                "reason": reason,
                "message": message,
                "type": type,
                "source": source,
                "count": 1,
                "firstTimestamp": rfc3339(ts),
                "lastTimestamp": rfc3339(ts),
                "eventTime": rfc3339_micro(ts),
                "reportingComponent": component,
                "reportingInstance": NODE_NAME if component == "kubelet" else f"{component}-{NODE_NAME}",
            }
            try:
                self.api.create(EVENTS, namespace, event, internal=True)
            except Exception:
                return
            self._seen[key] = name
