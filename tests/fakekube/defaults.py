"""Server-side defaulting (what the real API server fills in), and pod-template normalisation."""

from __future__ import annotations

import base64
import copy
import json
import math
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]

POD_TEMPLATE_HASH = "pod-template-hash"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _default_probe(probe: Obj | None) -> None:
    if not probe:
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if "httpGet" in probe:
        probe["httpGet"].setdefault("scheme", "HTTP")
        probe["httpGet"].setdefault("path", "/")


def _image_pull_policy(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.split(":", 1)[1] if ":" in name else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def default_container(c: Obj) -> None:
    """Container defaults: termination message, pull policy, port protocol, probes, resources."""
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if c.get("image"):
        c.setdefault("imagePullPolicy", _image_pull_policy(c["image"]))
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        ref = (env.get("valueFrom") or {}).get("fieldRef")
        if ref:
            ref.setdefault("apiVersion", "v1")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        _default_probe(c.get(probe))


def default_pod_spec(spec: Obj) -> None:
    """``SetDefaults_PodSpec`` (for pods and for pod templates)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            default_container(c)
    for vol in spec.get("volumes") or []:
        if "configMap" in vol:
            vol["configMap"].setdefault("defaultMode", 420)
        if "secret" in vol:
            vol["secret"].setdefault("defaultMode", 420)
        if "emptyDir" in vol and vol["emptyDir"] is None:
            vol["emptyDir"] = {}


def default_pod(pod: Obj) -> None:
    """Pod defaults, including what admission adds (service account, priority, tolerations)."""
    spec = pod.setdefault("spec", {})
    default_pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    if "tolerations" not in spec:
        spec["tolerations"] = [
            {
                "key": f"node.kubernetes.io/{t}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for t in ("not-ready", "unreachable")
        ]
    status = pod.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def _default_template(tmpl: Obj | None) -> None:
    if tmpl is None:
        return
    meta = tmpl.get("metadata")
    if isinstance(meta, dict) and meta.get("creationTimestamp", "x") is None:
        meta.pop("creationTimestamp")
    default_pod_spec(tmpl.setdefault("spec", {}))


def default_deployment(d: Obj) -> None:
    """Deployment defaults (replicas, strategy, revisionHistoryLimit, progressDeadlineSeconds)."""
    spec = d.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_template(spec.get("template"))
    d.setdefault("status", {})


def default_replicaset(rs: Obj) -> None:
    """ReplicaSet defaults."""
    spec = rs.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _default_template(spec.get("template"))
    rs.setdefault("status", {"replicas": 0})
    rs["status"].setdefault("replicas", 0)


def default_statefulset(sts: Obj) -> None:
    """StatefulSet defaults."""
    spec = sts.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    us = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if us.get("type", "RollingUpdate") == "RollingUpdate":
        us.setdefault("type", "RollingUpdate")
        us.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    _default_template(spec.get("template"))
    sts.setdefault("status", {"replicas": 0})
    sts["status"].setdefault("replicas", 0)


class IpAllocator:
    """Hands out addresses from a /16 (pure data: nothing ever listens there)."""

    def __init__(self, prefix: str, first: int = 1) -> None:
        self.prefix = prefix  # two octets, e.g. "10.244"
        self.next = first

    def allocate(self) -> str:
        n = self.next
        self.next += 1
        return f"{self.prefix}.{(n // 254) % 256}.{n % 254 + 1}"


def default_service(svc: Obj, allocate_ip: Callable[[], str], allocate_node_port: Callable[[], int]) -> None:
    """Service defaults: type, sessionAffinity, clusterIP(s), families, port protocol/targetPort."""
    spec = svc.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if spec["type"] == "ExternalName":
        svc.setdefault("status", {"loadBalancer": {}})
        return
    spec.setdefault("sessionAffinity", "None")
    if not spec.get("clusterIP"):
        spec["clusterIP"] = allocate_ip()
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
        if spec["type"] in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
            port["nodePort"] = allocate_node_port()
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    svc.setdefault("status", {"loadBalancer": {}})


def default_namespace(ns: Obj) -> None:
    """Namespace defaults: finalizer, phase, the ``kubernetes.io/metadata.name`` label."""
    ns.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    ns.setdefault("status", {}).setdefault("phase", "Active")
    meta = ns.setdefault("metadata", {})
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta.get("name", "")


def default_network_policy(np: Obj) -> None:
    """NetworkPolicy: ``policyTypes`` defaults to Ingress (+ Egress when egress rules exist)."""
    spec = np.setdefault("spec", {})
    spec.setdefault("podSelector", {})
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types
    for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
        for port in rule.get("ports") or []:
            port.setdefault("protocol", "TCP")


def default_pdb(pdb: Obj) -> None:
    """PodDisruptionBudget: status is filled by the disruption controller."""
    pdb.setdefault("spec", {})
    pdb.setdefault(
        "status", {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}
    )


def default_secret(secret: Obj) -> None:
    """Secrets: ``type`` defaults to Opaque; ``stringData`` is folded into base64 ``data``."""
    if not secret.get("type"):
        secret["type"] = "Opaque"
    string_data = secret.pop("stringData", None) or {}
    for key, value in string_data.items():
        secret.setdefault("data", {})[key] = base64.b64encode(str(value).encode()).decode()


def default_event(ev: Obj) -> None:
    """Events: ``count`` and ``type`` defaults."""
    ev.setdefault("type", "Normal")
    ev.setdefault("count", 1)
    ev.setdefault("source", {})


# -- intOrString -------------------------------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """Resolve an intOrString like ``25%`` against ``total`` (``GetScaledValueFromIntOrPercent``)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        pct = int(text[:-1])
        raw = pct * total / 100
        return math.ceil(raw) if round_up else math.floor(raw)
    return int(text)


# -- pod template normalisation and hashing ----------------------------------------------------------


def _prune(value: Any) -> Any:
    """Drop nulls, empty maps and empty lists, recursively."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def normalise_template(template: Obj | None) -> Obj:
    """A canonical form of a pod template for comparison and hashing.

    Defaults are applied, the ``pod-template-hash`` label and ``creationTimestamp`` are removed,
    and nulls / empty maps / empty lists (kubectl sends ``creationTimestamp: null`` and
    ``resources: {}``) are pruned.
    """
    tmpl = copy.deepcopy(template or {})
    _default_template(tmpl)
    meta = tmpl.get("metadata") or {}
    meta.pop("creationTimestamp", None)
    labels = meta.get("labels") or {}
    labels.pop(POD_TEMPLATE_HASH, None)
    return _prune(tmpl)


def templates_equal(a: Obj | None, b: Obj | None) -> bool:
    """Whether two pod templates are the same once normalised (``EqualIgnoreHash``)."""
    return normalise_template(a) == normalise_template(b)


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: map each byte onto a vowel-free alphabet."""
    return "".join(_SAFE_ALPHABET[b % len(_SAFE_ALPHABET)] for b in text.encode())


def template_hash(template: Obj | None, collision_count: int = 0) -> str:
    """The ``pod-template-hash`` of a template (fnv32a of its canonical JSON, safe-encoded)."""
    canonical = json.dumps(normalise_template(template), sort_keys=True, separators=(",", ":"))
    if collision_count:
        canonical += str(collision_count)
    return safe_encode(str(_fnv32a(canonical.encode())))
