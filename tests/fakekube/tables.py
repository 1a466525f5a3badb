"""Server-side printing: ``meta.k8s.io/v1 Table`` responses, which kubectl asks for on ``get``.

Columns and cells follow the real API server's printers (``pkg/printers/internalversion``) closely
enough that ``kubectl get`` output reads like a real cluster's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .resources import ResourceType
from .selectors import selector_object_to_string
from .store import Obj
from .timefmt import human_duration, now, parse_time, since

Column = tuple[str, str, str, int]  # name, type, format, priority
Printer = tuple[list[Column], Callable[[Obj, float], list[Any]]]

NAME: Column = ("Name", "string", "name", 0)
AGE: Column = ("Age", "string", "", 0)


def _age(obj: Obj, t: float) -> str:
    return since(obj["metadata"].get("creationTimestamp"), t)


def _pod_cells(pod: Obj, t: float) -> list[Any]:
    status = pod.get("status") or {}
    containers = pod["spec"].get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(cs.get("restartCount", 0) for cs in statuses)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    last_restart = None
    for cs in statuses:
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            reason = state["terminated"].get("reason") or "Terminated"
        finished = parse_time(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        if finished and (last_restart is None or finished > last_restart):
            last_restart = finished
    if "deletionTimestamp" in pod["metadata"]:
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(t - last_restart)} ago)"
    gates = pod["spec"].get("readinessGates") or []
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(containers)}",
        reason,
        restarts_text,
        _age(pod, t),
        status.get("podIP") or "<none>",
        pod["spec"].get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        f"{len(gates)}/{len(gates)}" if gates else "<none>",
    ]


def _ports(ports: list[Obj]) -> str:
    parts = []
    for p in ports:
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        parts.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _service_cells(svc: Obj, t: float) -> list[Any]:
    spec = svc.get("spec") or {}
    stype = spec.get("type", "ClusterIP")
    external = "<none>"
    if stype == "ExternalName":
        external = spec.get("externalName", "<none>")
    elif stype == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ips = [i.get("ip") or i.get("hostname") for i in ingress] + list(spec.get("externalIPs") or [])
        external = ",".join(ips) if ips else "<pending>"
    elif spec.get("externalIPs"):
        external = ",".join(spec["externalIPs"])
    selector = spec.get("selector") or {}
    return [
        svc["metadata"]["name"],
        stype,
        spec.get("clusterIP", "<none>"),
        external,
        _ports(spec.get("ports") or []),
        _age(svc, t),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>",
    ]


def _endpoints_cells(ep: Obj, t: float) -> list[Any]:
    pairs = []
    for subset in ep.get("subsets") or []:
        ports = subset.get("ports") or [{}]
        for addr in subset.get("addresses") or []:
            for port in ports:
                pairs.append(f"{addr['ip']}:{port['port']}" if port.get("port") else addr["ip"])
    text = ",".join(pairs[:3]) if pairs else "<none>"
    if len(pairs) > 3:
        text += f" + {len(pairs) - 3} more..."
    return [ep["metadata"]["name"], text, _age(ep, t)]


def _template_cells(template: Obj) -> list[str]:
    containers = (template.get("spec") or {}).get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)]


def _deployment_cells(d: Obj, t: float) -> list[Any]:
    status = d.get("status") or {}
    spec = d["spec"]
    return [
        d["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(d, t),
        *_template_cells(spec.get("template") or {}),
        selector_object_to_string(spec.get("selector")) or "<none>",
    ]


def _replicaset_cells(rs: Obj, t: float) -> list[Any]:
    status = rs.get("status") or {}
    spec = rs["spec"]
    return [
        rs["metadata"]["name"],
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(rs, t),
        *_template_cells(spec.get("template") or {}),
        selector_object_to_string(spec.get("selector")) or "<none>",
    ]


def _statefulset_cells(sts: Obj, t: float) -> list[Any]:
    status = sts.get("status") or {}
    return [
        sts["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{sts['spec'].get('replicas', 1)}",
        _age(sts, t),
        *_template_cells(sts["spec"].get("template") or {}),
    ]


def _event_cells(ev: Obj, t: float) -> list[Any]:
    first = since(ev.get("firstTimestamp") or ev.get("eventTime"), t)
    last = since(ev["lastTimestamp"], t) if ev.get("lastTimestamp") else first
    involved = ev.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = ev.get("source") or {}
    src = source.get("component") or ev.get("reportingComponent") or ""
    if source.get("host"):
        src += f", {source['host']}"
    return [
        last,
        ev.get("type", ""),
        ev.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        src,
        (ev.get("message") or "").strip(),
        first,
        int(ev.get("count") or 1),
        ev["metadata"]["name"],
    ]


def _namespace_cells(ns: Obj, t: float) -> list[Any]:
    return [ns["metadata"]["name"], (ns.get("status") or {}).get("phase", ""), _age(ns, t)]


def _configmap_cells(cm: Obj, t: float) -> list[Any]:
    return [cm["metadata"]["name"], len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), _age(cm, t)]


def _pdb_cells(pdb: Obj, t: float) -> list[Any]:
    spec = pdb.get("spec") or {}
    return [
        pdb["metadata"]["name"],
        str(spec.get("minAvailable", "N/A")),
        str(spec.get("maxUnavailable", "N/A")),
        (pdb.get("status") or {}).get("disruptionsAllowed", 0),
        _age(pdb, t),
    ]


def _netpol_cells(np: Obj, t: float) -> list[Any]:
    sel = selector_object_to_string((np.get("spec") or {}).get("podSelector"))
    return [np["metadata"]["name"], sel or "<none>", _age(np, t)]


def _node_cells(node: Obj, t: float) -> list[Any]:
    conds = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions") or []}
    info = (node.get("status") or {}).get("nodeInfo") or {}
    roles = [
        k.split("/", 1)[1]
        for k in node["metadata"].get("labels") or {}
        if k.startswith("node-role.kubernetes.io/")
    ]
    return [
        node["metadata"]["name"],
        "Ready" if conds.get("Ready") == "True" else "NotReady",
        ",".join(roles) or "<none>",
        _age(node, t),
        info.get("kubeletVersion", ""),
    ]


def _generic_cells(obj: Obj, t: float) -> list[Any]:
    return [obj["metadata"]["name"], _age(obj, t)]


_S = "string"
PRINTERS: dict[str, Printer] = {
    "Pod": (
        [
            NAME,
            ("Ready", _S, "", 0),
            ("Status", _S, "", 0),
            ("Restarts", _S, "", 0),
            AGE,
            ("IP", _S, "", 1),
            ("Node", _S, "", 1),
            ("Nominated Node", _S, "", 1),
            ("Readiness Gates", _S, "", 1),
        ],
        _pod_cells,
    ),
    "Service": (
        [
            NAME,
            ("Type", _S, "", 0),
            ("Cluster-IP", _S, "", 0),
            ("External-IP", _S, "", 0),
            ("Port(s)", _S, "", 0),
            AGE,
            ("Selector", _S, "", 1),
        ],
        _service_cells,
    ),
    "Endpoints": ([NAME, ("Endpoints", _S, "", 0), AGE], _endpoints_cells),
    "Deployment": (
        [
            NAME,
            ("Ready", _S, "", 0),
            ("Up-to-date", "integer", "", 0),
            ("Available", "integer", "", 0),
            AGE,
            ("Containers", _S, "", 1),
            ("Images", _S, "", 1),
            ("Selector", _S, "", 1),
        ],
        _deployment_cells,
    ),
    "ReplicaSet": (
        [
            NAME,
            ("Desired", "integer", "", 0),
            ("Current", "integer", "", 0),
            ("Ready", "integer", "", 0),
            AGE,
            ("Containers", _S, "", 1),
            ("Images", _S, "", 1),
            ("Selector", _S, "", 1),
        ],
        _replicaset_cells,
    ),
    "StatefulSet": (
        [NAME, ("Ready", _S, "", 0), AGE, ("Containers", _S, "", 1), ("Images", _S, "", 1)],
        _statefulset_cells,
    ),
    "Event": (
        [
            ("Last Seen", _S, "", 0),
            ("Type", _S, "", 0),
            ("Reason", _S, "", 0),
            ("Object", _S, "", 0),
            ("Subobject", _S, "", 1),
            ("Source", _S, "", 1),
            ("Message", _S, "", 0),
            ("First Seen", _S, "", 1),
            ("Count", "integer", "", 1),
            ("Name", _S, "", 1),
        ],
        _event_cells,
    ),
    "Namespace": ([NAME, ("Status", _S, "", 0), AGE], _namespace_cells),
    "ConfigMap": ([NAME, ("Data", "integer", "", 0), AGE], _configmap_cells),
    "PodDisruptionBudget": (
        [
            NAME,
            ("Min Available", _S, "", 0),
            ("Max Unavailable", _S, "", 0),
            ("Allowed Disruptions", "integer", "", 0),
            AGE,
        ],
        _pdb_cells,
    ),
    "NetworkPolicy": ([NAME, ("Pod-Selector", _S, "", 0), AGE], _netpol_cells),
    "Node": ([NAME, ("Status", _S, "", 0), ("Roles", _S, "", 0), AGE, ("Version", _S, "", 0)], _node_cells),
}


def partial_metadata(obj: Obj) -> Obj:
    """``PartialObjectMetadata`` of an object."""
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(
    rt: ResourceType, items: list[Obj], resource_version: str | None, include_object: str = "Metadata"
) -> Obj:
    """Render objects as a ``meta.k8s.io/v1`` Table (``includeObject``: None, Metadata or Object)."""
    columns, cells = PRINTERS.get(rt.kind, ([NAME, ("Created At", "date", "", 0)], None))
    t = now()
    rows = []
    for obj in items:
        row: Obj = {
            "cells": cells(obj, t)
            if cells
            else [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp")]
        }
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    meta: Obj = {}
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [
            {"name": n, "type": ty, "format": fmt, "description": n, "priority": prio}
            for n, ty, fmt, prio in columns
        ],
        "rows": rows,
    }
