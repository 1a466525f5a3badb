"""Label selectors (equality- and set-based) and field selectors."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import errors

Labels = Mapping[str, str]

_KEY = r"[A-Za-z0-9./_-]+"
_VALUE = r"[A-Za-z0-9._-]*"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_CMP_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=|>|<)\s*({_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


@dataclass(frozen=True)
class Requirement:
    """One label requirement; ``op`` is one of in, notin, exists, !, =, !=, gt, lt."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Labels) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("in", "="):
            return present and value in self.values
        if self.op in ("notin", "!="):
            return not present or value not in self.values
        if self.op in ("gt", "lt"):
            try:
                have, want = int(value or ""), int(self.values[0])
            except ValueError:
                return False
            return have > want if self.op == "gt" else have < want
        raise AssertionError(self.op)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in (x.strip() for x in parts) if p]


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse the query-string form (``app=x,tier in (a,b),!canary``); raises 400 on bad syntax."""
    if not text:
        return []
    reqs: list[Requirement] = []
    for part in _split_top_level(text):
        if m := _SET_RE.match(part):
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif m := _CMP_RE.match(part):
            key, op, value = m.groups()
            op = {"==": "=", ">": "gt", "<": "lt"}.get(op, op)
            reqs.append(Requirement(key, op, (value,)))
        elif m := _EXISTS_RE.match(part):
            reqs.append(Requirement(m.group(2), "!" if m.group(1) else "exists"))
        else:
            raise errors.bad_request(f"unable to parse requirement: {part!r} in label selector {text!r}")
    return reqs


def labels_match(reqs: list[Requirement], labels: Labels | None) -> bool:
    """Whether all requirements hold for ``labels``."""
    labels = labels or {}
    return all(r.matches(labels) for r in reqs)


def from_label_selector_object(sel: Mapping[str, Any] | None) -> list[Requirement]:
    """Convert a ``metav1.LabelSelector`` (matchLabels + matchExpressions) into requirements."""
    if not sel:
        return []
    reqs = [Requirement(k, "=", (v,)) for k, v in sorted((sel.get("matchLabels") or {}).items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in sel.get("matchExpressions") or []:
        reqs.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return reqs


def selector_object_matches(sel: Mapping[str, Any] | None, labels: Labels | None) -> bool:
    """Match a ``metav1.LabelSelector``; an empty selector matches everything."""
    return labels_match(from_label_selector_object(sel), labels)


def selector_object_to_string(sel: Mapping[str, Any] | None) -> str:
    """Render a ``metav1.LabelSelector`` as the string form (used in Scale.status.selector)."""
    parts = []
    for r in from_label_selector_object(sel):
        if r.op == "=":
            parts.append(f"{r.key}={r.values[0]}")
        elif r.op in ("in", "notin"):
            parts.append(f"{r.key} {r.op} ({','.join(r.values)})")
        elif r.op == "exists":
            parts.append(r.key)
        else:
            parts.append(f"!{r.key}")
    return ",".join(parts)


def map_selector_matches(selector: Mapping[str, str] | None, labels: Labels | None) -> bool:
    """Match a plain map selector (Service.spec.selector); an empty map matches nothing."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


# -- field selectors ---------------------------------------------------------------------------------

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
SUPPORTED_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "namespaces": ("status.phase",),
    "secrets": ("type",),
    "replicasets": ("status.replicas",),
    "nodes": ("spec.unschedulable",),
}


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    if path == "source":
        return str((obj.get("source") or {}).get("component", ""))
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None, plural: str) -> Callable[[Mapping[str, Any]], bool]:
    """Parse ``a.b=c,d!=e`` into a predicate; 400 for fields the real server would not support."""
    if not text:
        return lambda _obj: True
    allowed = set(_COMMON_FIELDS) | set(SUPPORTED_FIELDS.get(plural, ()))
    terms: list[tuple[str, bool, str]] = []
    for part in _split_top_level(text):
        m = re.match(r"^\s*([A-Za-z0-9._]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise errors.bad_request(f"invalid selector: {text!r}; can't understand {part!r}")
        field, op, value = m.groups()
        if field not in allowed:
            raise errors.bad_request(f"field label not supported: {field}")
        terms.append((field, op != "!=", value))

    def predicate(obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, f) == v) == eq for f, eq, v in terms)

    return predicate
