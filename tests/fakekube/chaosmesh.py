"""Chaos Mesh's ``NetworkChaos`` (``chaos-mesh.org/v1alpha1``) on the fake: its schema's required fields and
enums, the status Chaos Mesh's controller writes once its daemons have applied the rules, and what the rules do
to the simulated pods' dependency connections.

* Validation follows the CRD (``config/crd/bases/chaos-mesh.org_networkchaos.yaml``): ``spec.action``, ``mode``
  and ``selector`` required; ``action``, ``mode`` and ``direction`` enums; ``delay.latency`` (a duration),
  ``loss.loss``, ``bandwidth.rate/limit/buffer`` (limit and buffer at least 1) required when given; a ``target``
  needs its own ``mode`` and ``selector``. Chaos Mesh's admission webhook also refuses an action without its
  parameters (``delay`` without ``spec.delay``): so does the fake. Failures are 422 ``Invalid``.
* Status: :class:`ChaosMeshController` writes, ``inject_delay`` seconds after an object appears, what Chaos Mesh
  writes: conditions ``Selected``/``AllInjected`` ``True`` (``AllRecovered``/``Paused`` ``False``),
  ``experiment.desiredPhase: Run`` and one ``containerRecords`` entry per selected pod (``phase: Injected``).
  A selector matching no pod gets ``Selected=False`` and is never injected. Deletion is immediate (the real
  finalizer's recovery is instantaneous here).
* Effect (:func:`network_rule`, a kubelet pod rule, live like the NetworkPolicy rule): an injected object whose
  ``selector`` picks the pod and whose ``target`` picks a dependency's pods (or whose ``externalTargets`` names its
  Service) makes that dependency's connections from the pod slow (``delay``, ``bandwidth``), lossy (``loss`` below
  100%) or unreachable (``partition``, ``loss`` 100%: connections time out). For the ecommerce backend's postgres,
  unreachable or slower than the readiness probe's timeout makes the pod not ready, as a real backend whose
  readiness checks the database would be; every effect is in the pod's logs, as the application sees it (a
  timeout, a slow answer), never naming the object.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from .api import PODS, SERVICES, Api
from .resources import BY_KEY
from .selectors import map_selector_matches
from .timefmt import now, rfc3339

Obj = dict[str, Any]
Cause = tuple[str, str, str]

NETWORKCHAOS = BY_KEY[("chaos-mesh.org", "networkchaos")]
ACTIONS = ("netem", "delay", "loss", "duplicate", "corrupt", "partition", "bandwidth")
MODES = ("one", "all", "fixed", "fixed-percent", "random-max-percent")
DIRECTIONS = ("to", "from", "both")
_DURATION = re.compile(r"^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)$")
_UNITS_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
PROBE_TIMEOUT_MS = 1000.0  # the seed's readiness probe timeoutSeconds


def _required(field: str) -> Cause:
    return (field, "FieldValueRequired", "Required value")


def _invalid(field: str, value: Any, why: str) -> Cause:
    return (field, "FieldValueInvalid", f"Invalid value: {value!r}: {why}")


def _check_selector(selector: Any, field: str) -> list[Cause]:
    if not isinstance(selector, dict):
        return [_required(f"{field}.selector")]
    labels = selector.get("labelSelectors")
    if labels is not None and not (isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())):
        return [_invalid(f"{field}.selector.labelSelectors", labels, "expected a map of strings")]
    return []


def _check_pod_selector(spec: Obj, field: str) -> list[Cause]:
    causes: list[Cause] = []
    if "mode" not in spec:
        causes.append(_required(f"{field}.mode"))
    elif spec["mode"] not in MODES:
        causes.append(_invalid(f"{field}.mode", spec["mode"], f"supported values: {', '.join(MODES)}"))
    if "selector" not in spec:
        causes.append(_required(f"{field}.selector"))
    else:
        causes += _check_selector(spec["selector"], field)
    return causes


def validate(obj: Obj) -> list[Cause]:
    """The CRD's schema checks plus the webhook's "an action needs its parameters"."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [_required("spec")]
    causes = _check_pod_selector(spec, "spec")
    action = spec.get("action")
    if action is None:
        causes.append(_required("spec.action"))
    elif action not in ACTIONS:
        causes.append(_invalid("spec.action", action, f"supported values: {', '.join(ACTIONS)}"))
    if spec.get("direction", "to") not in DIRECTIONS:
        causes.append(_invalid("spec.direction", spec["direction"], f"supported values: {', '.join(DIRECTIONS)}"))
    if "target" in spec:
        causes += _check_pod_selector(spec["target"] or {}, "spec.target")
    delay = spec.get("delay")
    if delay is not None:
        for key in ("latency", "jitter"):
            if key == "latency" and "latency" not in delay:
                causes.append(_required("spec.delay.latency"))
            elif key in delay and not _DURATION.match(str(delay[key])):
                causes.append(_invalid(f"spec.delay.{key}", delay[key], f"should match '{_DURATION.pattern}'"))
    loss = spec.get("loss")
    if loss is not None:
        if "loss" not in loss:
            causes.append(_required("spec.loss.loss"))
        elif not _float(loss["loss"]) or not 0 <= float(loss["loss"]) <= 100:
            causes.append(_invalid("spec.loss.loss", loss["loss"], "a percentage between 0 and 100 (a string)"))
    bandwidth = spec.get("bandwidth")
    if bandwidth is not None:
        for key in ("rate", "limit", "buffer"):
            if key not in bandwidth:
                causes.append(_required(f"spec.bandwidth.{key}"))
            elif key != "rate" and not (isinstance(bandwidth[key], int) and bandwidth[key] >= 1):
                causes.append(_invalid(f"spec.bandwidth.{key}", bandwidth[key], "should be greater than or equal to 1"))
    if action in ("delay", "loss", "bandwidth", "duplicate", "corrupt") and spec.get(action) is None:
        causes.append(_invalid(f"spec.{action}", None, f"action {action} needs its parameters"))
    return causes


def _float(value: Any) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _selected_pods(api: Api, default_ns: str, spec: Obj) -> list[Obj]:
    """The running, non-terminating pods a Chaos Mesh PodSelector picks (namespaces and labelSelectors)."""
    selector = spec.get("selector") or {}
    namespaces = selector.get("namespaces") or [default_ns]
    labels = selector.get("labelSelectors") or {}
    return [p for ns in namespaces for p in api.store.view(PODS, ns)
            if "deletionTimestamp" not in p["metadata"] and (p.get("status") or {}).get("phase") == "Running"
            and map_selector_matches(labels, p["metadata"].get("labels"))]


class ChaosMeshController:
    """Writes a NetworkChaos's status as Chaos Mesh does once its daemons applied it (``inject_delay`` s later)."""

    def __init__(self, api: Api, inject_delay: float = 0.2) -> None:
        self.api = api
        self.inject_delay = inject_delay
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def sync(self) -> None:
        objects = self.api.store.view(NETWORKCHAOS)
        with self._lock:
            live = {o["metadata"]["uid"] for o in objects}
            self._seen = {uid: at for uid, at in self._seen.items() if uid in live}
            for obj in objects:
                first = self._seen.setdefault(obj["metadata"]["uid"], time.monotonic())
                if time.monotonic() - first >= self.inject_delay and not _has_status(obj):
                    self._inject(obj)

    def _inject(self, obj: Obj) -> None:
        meta = obj["metadata"]
        pods = _selected_pods(self.api, meta["namespace"], obj["spec"])
        ids = [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods]
        selected = "True" if pods else "False"
        status = {
            "conditions": [{"type": "Selected", "status": selected},
                           {"type": "AllInjected", "status": selected},
                           {"type": "AllRecovered", "status": "False"},
                           {"type": "Paused", "status": "False"}],
            "experiment": {"desiredPhase": "Run", "containerRecords": [
                {"id": i, "selectorKey": ".", "phase": "Injected", "injectedCount": 1, "recoveredCount": 0,
                 "events": [{"type": "Succeeded", "operation": "Apply", "timestamp": rfc3339(now())}]}
                for i in ids]},
            "instances": dict.fromkeys(ids, 1),
        }
        self.api.update(NETWORKCHAOS, meta["namespace"], meta["name"], {**obj, "status": status},
                        subresource="status", internal=True)


def _has_status(obj: Obj) -> bool:
    return bool((obj.get("status") or {}).get("conditions"))


def _injected(obj: Obj) -> bool:
    return any(c.get("type") == "AllInjected" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def _ms(duration: str) -> float:
    match = _DURATION.match(duration or "0ms")
    return float(duration[: match.start(2)]) * _UNITS_MS[match.group(2)] if match else 0.0


def effects_on(api: Api, pod: Obj) -> dict[str, list[tuple[str, Obj]]]:
    """Service name -> (action, object) of every injected NetworkChaos acting on ``pod``'s connections to the pods
    behind that Service (or to the Service's name as an external target)."""
    ns = pod["metadata"]["namespace"]
    out: dict[str, list[tuple[str, Obj]]] = {}
    services = api.store.view(SERVICES, ns)
    for obj in api.store.view(NETWORKCHAOS, ns):
        spec = obj.get("spec") or {}
        if not _injected(obj) or spec.get("direction", "to") not in ("to", "both"):
            continue
        if not map_selector_matches((spec.get("selector") or {}).get("labelSelectors") or {},
                                    pod["metadata"].get("labels")):
            continue
        targets = _selected_pods(api, ns, spec["target"]) if spec.get("target") else []
        external = set(spec.get("externalTargets") or [])
        for svc in services:
            name = svc["metadata"]["name"]
            selector = svc["spec"].get("selector")
            behind = bool(selector) and any(map_selector_matches(selector, t["metadata"].get("labels"))
                                            for t in targets)
            if behind or name in external or f"{name}.{ns}.svc.cluster.local" in external:
                out.setdefault(name, []).append((spec.get("action", ""), obj))
    return out


def describe(action: str, obj: Obj) -> tuple[str, bool, float]:
    """(what the application sees on such a connection, unreachable, added latency in ms). Only what it sees: an
    application cannot know which object, or that any object, acts on its packets."""
    spec = obj.get("spec") or {}
    if action == "partition":
        return "timed out", True, 0.0
    if action == "loss":
        if float((spec.get("loss") or {}).get("loss", "0")) >= 100:
            return "timed out", True, 0.0
        return "slow: retransmissions", False, 0.0
    if action == "delay":
        latency = _ms((spec.get("delay") or {}).get("latency", "0ms"))
        return f"slow: +{latency:.0f} ms per round trip", False, latency
    if action == "bandwidth":
        return "slow: throttled", False, 0.0
    return "slow", False, 0.0


def network_rule_for(app: str, critical: str, port: int) -> Any:
    """A kubelet rule for the pods labelled ``app=<app>``: their ``critical`` dependency unreachable, or slower
    than the readiness probe's timeout, makes them not ready; every effect is logged."""
    from .kubelet import PodContext, Verdict, probe_timeout_message

    def rule(ctx: PodContext) -> Verdict | None:
        if ctx.labels.get("app") != app:
            return None
        effects = effects_on(ctx.api, ctx.pod)
        if not effects:
            return None
        logs, ready, message = [], True, ""
        for service, acting in sorted(effects.items()):
            for action, obj in acting:
                what, unreachable, latency = describe(action, obj)
                level = "ERROR" if unreachable else "WARN"
                logs.append(f"{level} {service}: connection to {service}:{port if service == critical else ''}"
                            .rstrip(":") + f" {what}")
                if service == critical and (unreachable or latency >= PROBE_TIMEOUT_MS):
                    ready = False
                    message = (probe_timeout_message(ctx.pod) if latency >= PROBE_TIMEOUT_MS
                               else "HTTP probe failed with statuscode: 503")
        return Verdict(ready=ready, message=message, logs=tuple(logs))

    return rule
