"""Server-side field validation (``?fieldValidation=Strict|Warn``) for unknown fields.

kubectl (``apply``, ``create``, ``replace``) sends ``fieldValidation=Strict`` because this fake's
OpenAPI v3 document says it may (see :mod:`.openapi`); a real server then rejects manifests with
unknown fields. The check uses the strict JSON schemas shipped by ``kubernetes-validate`` when
that package is installed, and is skipped otherwise.
"""

from __future__ import annotations

import functools
from typing import Any

from . import errors

SCHEMA_VERSION = "1.37"


@functools.cache
def _validator(api_version: str, kind: str) -> Any | None:
    try:
        import jsonschema
        from kubernetes_validate import utils
        from referencing import Registry, Resource
    except ImportError:
        return None
    group_version = api_version.split("/", 1)
    prefix = (
        f"{group_version[0].split('.', 1)[0]}-{group_version[1]}" if len(group_version) == 2 else api_version
    )
    schema_dir = f"kubernetes-json-schema/v{SCHEMA_VERSION}.0-local-strict"
    try:
        schema = utils.schema_contents(f"{schema_dir}/{kind.lower()}-{prefix}.json", SCHEMA_VERSION)
        definitions = utils.schema_contents(f"{schema_dir}/_definitions.json", SCHEMA_VERSION)
    except (OSError, ValueError, utils.VersionNotSupportedError):
        return None
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def unknown_fields(obj: dict[str, Any]) -> list[str]:
    """Dotted paths of fields the schema of ``obj``'s kind does not know."""
    validator = _validator(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    if validator is None:
        return []
    found = []
    for error in validator.iter_errors(obj):
        for sub in [error, *(error.context or [])]:
            if sub.validator != "additionalProperties":
                continue
            allowed = set((sub.schema or {}).get("properties", {}))
            base = ""
            for part in sub.absolute_path:
                base += f"[{part}]" if isinstance(part, int) else (f".{part}" if base else str(part))
            for key in sub.instance if isinstance(sub.instance, dict) else ():
                if key not in allowed:
                    found.append(f"{base}.{key}" if base else key)
    return sorted(set(found))


def check(obj: Any, mode: str | None) -> list[str]:
    """Apply ``fieldValidation``: raise 400 for Strict, return warnings for Warn."""
    if mode not in ("Strict", "Warn") or not isinstance(obj, dict):
        return []
    unknown = unknown_fields(obj)
    if not unknown:
        return []
    if mode == "Warn":
        return [f'unknown field "{f}"' for f in unknown]
    kind = obj.get("kind", "object")
    version = str(obj.get("apiVersion", "")).rsplit("/", 1)[-1]
    detail = ", ".join(f'unknown field "{f}"' for f in unknown)
    raise errors.bad_request(
        f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {detail}'
    )
