"""A minimal OpenAPI v3 surface: just enough for kubectl to use server-side field validation.

``kubectl apply``/``create`` validate manifests; with ``--validate=strict`` (the default) kubectl
checks in the OpenAPI v3 document of the group-version whether the PATCH operation of the kind
declares the ``fieldValidation`` query parameter. If so it sends ``fieldValidation=Strict`` and
leaves validation to the server; otherwise it downloads the full schema for client-side
validation, which this fake does not have (``/openapi/v2`` is 404). Patch operations declare no
request body, so ``kubectl apply`` computes its strategic merge patch from its built-in types.
The documents carry no schemas: ``kubectl explain`` does not work.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .resources import GROUP_VERSIONS, RESOURCE_TYPES, SERVER_VERSION


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _hash(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()


def group_version_doc(group: str, version: str) -> dict[str, Any] | None:
    """``GET /openapi/v3/<gv path>``."""
    if GROUP_VERSIONS.get(group) != version:
        return None
    params = [
        {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for n in ("dryRun", "fieldManager", "fieldValidation")
    ]
    paths: dict[str, Any] = {}
    for rt in RESOURCE_TYPES:
        if rt.group != group or rt.version != version:
            continue
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        base = f"/{_gv_path(group, version)}"
        item = (
            f"{base}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
            if rt.namespaced
            else f"{base}/{rt.plural}/{{name}}"
        )
        collection = item.rsplit("/", 1)[0]
        ops = {}
        for verb, action in (("get", "get"), ("put", "put"), ("patch", "patch"), ("delete", "delete")):
            ops[verb] = {
                "operationId": f"{action}{rt.kind}",
                "parameters": params if verb != "get" else [],
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            }
        paths[item] = ops
        paths[collection] = {
            "post": {
                "operationId": f"create{rt.kind}",
                "parameters": params,
                "responses": {"201": {"description": "Created"}},
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": gvk,
            },
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (fakekube)", "version": SERVER_VERSION["gitVersion"]},
        "paths": paths,
        "components": {},
    }


def root_doc() -> dict[str, Any]:
    """``GET /openapi/v3``: the group-versions and the hashed URLs of their documents."""
    paths = {}
    for group, version in GROUP_VERSIONS.items():
        doc = group_version_doc(group, version) or {}
        path = _gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(doc)}"}
    return {"paths": paths}
