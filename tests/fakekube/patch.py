"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch and JSON patch (RFC 6902).

The strategic merge patch follows the patch strategies of the built-in types this fake serves
(``patchMergeKey``/``patchStrategy`` struct tags) and the directives ``$patch`` (merge, replace,
delete), ``$setElementOrder/<list>``, ``$deleteFromPrimitiveList/<list>`` and ``$retainKeys``.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from . import errors

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
SUPPORTED = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

Path = tuple[str, ...]

_NAME_KEYED = {
    "containers",
    "initContainers",
    "ephemeralContainers",
    "env",
    "volumes",
    "imagePullSecrets",
    "resourceClaims",
    "schedulingGates",
}
_OTHER_KEYS = {
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
}
_PRIMITIVE_MERGE = {"finalizers"}


# -- JSON merge patch --------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge patch ---------------------------------------------------------------------------


def merge_key(path: Path) -> str | None:
    """The ``patchMergeKey`` of the list at ``path`` (field names, list indices omitted)."""
    if not path:
        return None
    last = path[-1]
    if last in _NAME_KEYED:
        return "name"
    if last == "ports":
        if len(path) >= 2 and path[-2] in ("containers", "initContainers", "ephemeralContainers"):
            return "containerPort"
        return "port"
    return _OTHER_KEYS.get(last)


def strategic_merge_patch(target: Any, patch: Any, path: Path = ()) -> Any:
    """Apply a strategic merge patch to ``target`` (not modified) and return the result."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "replace":
        return _strip_directives(body)
    result = copy.deepcopy(target)
    retain = body.pop("$retainKeys", None)
    orders: dict[str, list[Any]] = {}
    for key in list(body):
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = body.pop(key)
        elif key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            remove = body.pop(key) or []
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in remove]
    for key, value in body.items():
        sub = (*path, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value, sub)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, sub)
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _apply_order(result[field], order, merge_key((*path, field)))
    if retain is not None:
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$patch")
            and not k.startswith("$retainKeys")
            and not k.startswith("$setElementOrder/")
            and not k.startswith("$deleteFromPrimitiveList/")
        }
    if isinstance(value, list):
        return [
            _strip_directives(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "replace")
        ]
    return value


def _merge_list(current: Any, patch: list[Any], path: Path) -> list[Any]:
    current = current if isinstance(current, list) else []
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return _strip_directives(patch)
    key = merge_key(path)
    if path and path[-1] in _PRIMITIVE_MERGE:
        out = list(current)
        out.extend(v for v in patch if v not in out)
        return out
    if key is None or not all(isinstance(p, dict) for p in patch):
        return _strip_directives(copy.deepcopy(patch))
    result = copy.deepcopy(current)
    for item in patch:
        directive = item.get("$patch")
        kval = item.get(key)
        idx = next((i for i, c in enumerate(result) if isinstance(c, dict) and c.get(key) == kval), None)
        if directive == "delete":
            if idx is not None:
                result.pop(idx)
            continue
        if idx is None:
            result.append(_strip_directives({k: v for k, v in item.items() if k != "$patch"}))
        else:
            merged = strategic_merge_patch(result[idx], item, path)
            if merged is None:
                result.pop(idx)
            else:
                result[idx] = merged
    return result


def _apply_order(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    if key is None:
        wanted = [o for o in order if o in items]
        return wanted + [i for i in items if i not in wanted]
    by_key = {i.get(key): i for i in items if isinstance(i, dict)}
    ordered = [by_key[o.get(key)] for o in order if isinstance(o, dict) and o.get(key) in by_key]
    seen = {id(i) for i in ordered}
    return ordered + [i for i in items if id(i) not in seen]


# -- dispatch ----------------------------------------------------------------------------------------


def apply_patch(content_type: str, target: dict[str, Any], body: Any) -> dict[str, Any]:
    """Apply a PATCH body of the given media type; 415 for apply-patch and unknown types."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == JSON_PATCH:
        if not isinstance(body, list):
            raise errors.bad_request("json patch must be a list of operations")
        try:
            return jsonpatch.apply_patch(target, body)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise errors.ApiError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: json patch failed: {exc}",
            ) from exc
    if not isinstance(body, dict):
        raise errors.bad_request(f"{ctype} body must be a JSON object")
    if ctype == MERGE_PATCH:
        return merge_patch(target, body)
    if ctype == STRATEGIC_MERGE_PATCH:
        result = strategic_merge_patch(target, body)
        return result if result is not None else {}
    if ctype == APPLY_PATCH:
        raise errors.ApiError(
            415,
            "UnsupportedMediaType",
            "server-side apply (application/apply-patch+yaml) is not supported by this fake API server; "
            "use client-side `kubectl apply` (without --server-side) or a merge/strategic/json patch",
        )
    raise errors.unsupported_media_type(ctype, list(SUPPORTED))
