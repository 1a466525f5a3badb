"""A useful subset of the API server's validation, reported as 422 ``Invalid`` Status objects."""

from __future__ import annotations

import re
from typing import Any

from . import errors
from .resources import ResourceType
from .selectors import selector_object_matches
from .timefmt import parse_time

Obj = dict[str, Any]
Cause = tuple[str, str, str]  # field, reason, message

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

_LABEL_NAMES = {"namespaces", "services"}


def _invalid(field: str, value: Any, why: str) -> Cause:
    return (field, "FieldValueInvalid", f"Invalid value: {value!r}: {why}")


def _required(field: str) -> Cause:
    return (field, "FieldValueRequired", "Required value")


def _check_labels(labels: Any, field: str) -> list[Cause]:
    causes: list[Cause] = []
    if labels is None:
        return causes
    if not isinstance(labels, dict):
        return [_invalid(field, labels, "must be a map of string keys and values")]
    for key, value in labels.items():
        name = key.rsplit("/", 1)[-1]
        prefix = key.rsplit("/", 1)[0] if "/" in key else ""
        if (
            not name
            or len(name) > 63
            or not _LABEL_NAME.match(name)
            or (prefix and not _DNS_SUBDOMAIN.match(prefix))
        ):
            causes.append(
                _invalid(
                    field,
                    key,
                    "name part must consist of alphanumeric characters, '-', '_' or "
                    "'.', and must start and end with an alphanumeric character",
                )
            )
        if not isinstance(value, str):
            causes.append(_invalid(f"{field}[{key}]", value, "must be a string"))
        elif value and (len(value) > 63 or not _LABEL_NAME.match(value)):
            causes.append(
                _invalid(
                    f"{field}[{key}]",
                    value,
                    "a valid label must be an empty string or consist "
                    "of alphanumeric characters, '-', '_' or '.'",
                )
            )
    return causes


def _check_meta(rt: ResourceType, obj: Obj) -> list[Cause]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return [_required("metadata")]
    causes: list[Cause] = []
    name = meta.get("name")
    if not name:
        causes.append(_required("metadata.name"))
    elif not isinstance(name, str):
        causes.append(_invalid("metadata.name", name, "must be a string"))
    else:
        pattern, limit = (_DNS_LABEL, 63) if rt.plural in _LABEL_NAMES else (_DNS_SUBDOMAIN, 253)
        if len(name) > limit or not pattern.match(name):
            causes.append(
                _invalid(
                    "metadata.name",
                    name,
                    "a lowercase RFC 1123 name must consist of lower case "
                    "alphanumeric characters, '-' or '.', and must start "
                    "and end with an alphanumeric character",
                )
            )
    causes += _check_labels(meta.get("labels"), "metadata.labels")
    annotations = meta.get("annotations")
    if annotations is not None and (
        not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values())
    ):
        causes.append(_invalid("metadata.annotations", annotations, "values must be strings"))
    return causes


def _check_containers(spec: Any, field: str) -> list[Cause]:
    if not isinstance(spec, dict):
        return [_required(field)]
    containers = spec.get("containers")
    if not containers or not isinstance(containers, list):
        return [_required(f"{field}.containers")]
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        cf = f"{field}.containers[{i}]"
        if not isinstance(c, dict):
            causes.append(_invalid(cf, c, "must be an object"))
            continue
        name = c.get("name")
        if not name:
            causes.append(_required(f"{cf}.name"))
        elif not isinstance(name, str) or not _DNS_LABEL.match(name):
            causes.append(_invalid(f"{cf}.name", name, "must be a lowercase RFC 1123 label"))
        elif name in seen:
            causes.append((f"{cf}.name", "FieldValueDuplicate", f"Duplicate value: {name!r}"))
        else:
            seen.add(name)
        if not c.get("image"):
            causes.append(_required(f"{cf}.image"))
        for j, port in enumerate(c.get("ports") or []):
            cp = port.get("containerPort")
            if not isinstance(cp, int) or isinstance(cp, bool) or not 1 <= cp <= 65535:
                causes.append(_invalid(f"{cf}.ports[{j}].containerPort", cp, "must be between 1 and 65535"))
        for j, env in enumerate(c.get("env") or []):
            if not env.get("name"):
                causes.append(_required(f"{cf}.env[{j}].name"))
            if "value" in env and env["value"] is not None and not isinstance(env["value"], str):
                causes.append(_invalid(f"{cf}.env[{j}].value", env["value"], "must be a string"))
    rp = spec.get("restartPolicy")
    if rp is not None and rp not in ("Always", "OnFailure", "Never"):
        causes.append(
            (
                f"{field}.restartPolicy",
                "FieldValueNotSupported",
                f'Unsupported value: "{rp}": supported values: "Always", "OnFailure", "Never"',
            )
        )
    return causes


def _check_replicas(spec: Obj, field: str) -> list[Cause]:
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0):
        return [_invalid(field, replicas, "must be greater than or equal to 0")]
    return []


def _check_workload(obj: Obj, kind: str) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [_required("spec")]
    causes = _check_replicas(spec, "spec.replicas")
    selector = spec.get("selector")
    template = spec.get("template")
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(_required("spec.selector"))
    if not isinstance(template, dict):
        causes.append(_required("spec.template"))
        return causes
    labels = (template.get("metadata") or {}).get("labels") or {}
    causes += _check_labels(labels, "spec.template.metadata.labels")
    if selector and not selector_object_matches(selector, labels):
        causes.append(
            _invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
        )
    causes += _check_containers(template.get("spec"), "spec.template.spec")
    if kind == "Deployment":
        strategy = spec.get("strategy") or {}
        stype = strategy.get("type", "RollingUpdate")
        if stype not in ("RollingUpdate", "Recreate"):
            causes.append(
                (
                    "spec.strategy.type",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{stype}": supported values: "Recreate", "RollingUpdate"',
                )
            )
        if stype == "Recreate" and strategy.get("rollingUpdate"):
            causes.append(
                (
                    "spec.strategy.rollingUpdate",
                    "FieldValueForbidden",
                    "Forbidden: may not be specified when strategy `type` is 'Recreate'",
                )
            )
    return causes


def _check_service(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [_required("spec")]
    causes: list[Cause] = []
    stype = spec.get("type", "ClusterIP")
    if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(("spec.type", "FieldValueNotSupported", f'Unsupported value: "{stype}"'))
    ports = spec.get("ports") or []
    if stype != "ExternalName" and spec.get("clusterIP") != "None" and not ports:
        causes.append(_required("spec.ports"))
    names = set()
    for i, port in enumerate(ports):
        p = port.get("port")
        if not isinstance(p, int) or isinstance(p, bool) or not 1 <= p <= 65535:
            causes.append(_invalid(f"spec.ports[{i}].port", p, "must be between 1 and 65535, inclusive"))
        if len(ports) > 1 and not port.get("name"):
            causes.append(_required(f"spec.ports[{i}].name"))
        if port.get("name") in names:
            causes.append(
                (f"spec.ports[{i}].name", "FieldValueDuplicate", f"Duplicate value: {port.get('name')!r}")
            )
        names.add(port.get("name"))
    causes += _check_labels(spec.get("selector"), "spec.selector")
    return causes


def _check_configmap(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for field in ("data", "binaryData"):
        data = obj.get(field)
        if data is None:
            continue
        if not isinstance(data, dict):
            causes.append(_invalid(field, data, "must be a map"))
            continue
        for key, value in data.items():
            if not _CONFIG_KEY.match(key):
                causes.append(
                    _invalid(
                        f"{field}[{key}]",
                        key,
                        "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                    )
                )
            if not isinstance(value, str):
                causes.append(_invalid(f"{field}[{key}]", value, "must be a string"))
    return causes


def _check_pdb(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        return [("spec", "FieldValueInvalid", "minAvailable and maxUnavailable cannot be both set")]
    return []


def _is_time(value: Any) -> bool:
    try:
        return isinstance(value, str) and parse_time(value) is not None
    except ValueError:
        return False


def _check_lease(obj: Obj) -> list[Cause]:
    """coordination/v1 Lease: the durations and counters the real server checks (ValidateLeaseSpec)."""
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        causes.append(_invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and (not isinstance(transitions, int) or transitions < 0):
        causes.append(_invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    for key in ("acquireTime", "renewTime"):
        if spec.get(key) is not None and not _is_time(spec[key]):
            causes.append(_invalid(f"spec.{key}", spec[key], "must be an RFC 3339 MicroTime"))
    return causes


def validate(rt: ResourceType, obj: Obj, old: Obj | None = None) -> None:
    """Raise 422 Invalid when ``obj`` would be rejected; ``old`` is set on updates."""
    causes = _check_meta(rt, obj)
    if rt.kind == "Pod":
        causes += _check_containers(obj.get("spec"), "spec")
    elif rt.kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        causes += _check_workload(obj, rt.kind)
        if old is not None and (old.get("spec") or {}).get("selector") != (obj.get("spec") or {}).get(
            "selector"
        ):
            causes.append(
                (
                    "spec.selector",
                    "FieldValueInvalid",
                    f"Invalid value: {obj['spec'].get('selector')!r}: field is immutable",
                )
            )
    elif rt.kind == "Service":
        causes += _check_service(obj)
        if old is not None:
            old_ip = (old.get("spec") or {}).get("clusterIP")
            new_ip = (obj.get("spec") or {}).get("clusterIP")
            if new_ip and old_ip and new_ip != old_ip:
                causes.append(
                    (
                        "spec.clusterIPs[0]",
                        "FieldValueInvalid",
                        f"Invalid value: {new_ip!r}: may not change once set",
                    )
                )
    elif rt.kind == "ConfigMap":
        causes += _check_configmap(obj)
    elif rt.kind == "PodDisruptionBudget":
        causes += _check_pdb(obj)
    elif rt.kind == "Lease":
        causes += _check_lease(obj)
    elif rt.kind == "Event" and not obj.get("involvedObject"):
        causes.append(_required("involvedObject"))
    elif rt.kind == "NetworkChaos":
        from .chaosmesh import validate as network_chaos_causes  # chaosmesh imports the API, which imports us

        causes += network_chaos_causes(obj)
    if causes:
        name = (obj.get("metadata") or {}).get("name") or ""
        raise errors.invalid(rt.kind, rt.group, name, causes)
