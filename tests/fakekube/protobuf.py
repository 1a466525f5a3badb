"""Decoding of the Kubernetes protobuf wire format for the few kinds kubectl POSTs as protobuf.

kubectl's typed clients (``kubectl create configmap|secret|namespace``) send request bodies as
``application/vnd.kubernetes.protobuf`` and do not fall back to JSON on ``415``. This module
decodes the envelope (``k8s\\0`` + ``runtime.Unknown``) and the messages of ConfigMap, Secret and
Namespace (field numbers from ``k8s.io/api/core/v1/generated.proto``) into JSON-style dicts.
Other kinds raise :class:`UnsupportedKind` (the server answers 415 with a workaround).
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Callable, Iterator
from typing import Any

MAGIC = b"k8s\x00"


class UnsupportedKind(ValueError):
    """The body decodes, but this fake has no schema for its kind."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(field_number, wire_type, value)``; length-delimited values are bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield num, wire, value


def _map_entry(buf: bytes, as_bytes: bool = False) -> tuple[str, Any]:
    key, value = "", b"" if as_bytes else ""
    for num, _w, v in fields(buf):
        if num == 1:
            key = v.decode()
        elif num == 2:
            value = v if as_bytes else v.decode()
    return key, value


def _time(buf: bytes) -> str:
    seconds = 0
    for num, _w, v in fields(buf):
        if num == 1:
            seconds = v
    return _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner_reference(buf: bytes) -> dict[str, Any]:
    names = {5: "apiVersion", 1: "kind", 3: "name", 4: "uid"}
    ref: dict[str, Any] = {}
    for num, _w, v in fields(buf):
        if num in names:
            ref[names[num]] = v.decode()
        elif num == 6:
            ref["controller"] = bool(v)
        elif num == 7:
            ref["blockOwnerDeletion"] = bool(v)
    return ref


def object_meta(buf: bytes) -> dict[str, Any]:
    """``metav1.ObjectMeta`` (the fields a client may set)."""
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    meta: dict[str, Any] = {}
    for num, _w, v in fields(buf):
        if num in strings:
            if v:
                meta[strings[num]] = v.decode()
        elif num == 7:
            meta["generation"] = v
        elif num == 8 and v:
            meta["creationTimestamp"] = _time(v)
        elif num == 11:
            k, val = _map_entry(v)
            meta.setdefault("labels", {})[k] = val
        elif num == 12:
            k, val = _map_entry(v)
            meta.setdefault("annotations", {})[k] = val
        elif num == 13:
            meta.setdefault("ownerReferences", []).append(_owner_reference(v))
        elif num == 14:
            meta.setdefault("finalizers", []).append(v.decode())
    return meta


def _configmap(buf: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for num, _w, v in fields(buf):
        if num == 1:
            obj["metadata"] = object_meta(v)
        elif num == 2:
            k, val = _map_entry(v)
            obj.setdefault("data", {})[k] = val
        elif num == 3:
            k, raw = _map_entry(v, as_bytes=True)
            obj.setdefault("binaryData", {})[k] = base64.b64encode(raw).decode()
        elif num == 4:
            obj["immutable"] = bool(v)
    return obj


def _secret(buf: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for num, _w, v in fields(buf):
        if num == 1:
            obj["metadata"] = object_meta(v)
        elif num == 2:
            k, raw = _map_entry(v, as_bytes=True)
            obj.setdefault("data", {})[k] = base64.b64encode(raw).decode()
        elif num == 3:
            obj["type"] = v.decode()
        elif num == 4:
            k, val = _map_entry(v)
            obj.setdefault("stringData", {})[k] = val
        elif num == 5:
            obj["immutable"] = bool(v)
    return obj


def _namespace(buf: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for num, _w, v in fields(buf):
        if num == 1:
            obj["metadata"] = object_meta(v)
        elif num == 2:
            finalizers = [f.decode() for n, _w2, f in fields(v) if n == 1]
            if finalizers:
                obj["spec"] = {"finalizers": finalizers}
    return obj


DECODERS: dict[tuple[str, str], Callable[[bytes], dict[str, Any]]] = {
    ("v1", "ConfigMap"): _configmap,
    ("v1", "Secret"): _secret,
    ("v1", "Namespace"): _namespace,
}


def decode(body: bytes) -> dict[str, Any]:
    """Decode a protobuf request body into a JSON-style object (raises ValueError/UnsupportedKind)."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body (missing the k8s\\0 prefix)")
    api_version = kind = ""
    raw = b""
    for num, _w, v in fields(body[len(MAGIC) :]):
        if num == 1:
            for n, _w2, tv in fields(v):
                if n == 1:
                    api_version = tv.decode()
                elif n == 2:
                    kind = tv.decode()
        elif num == 2:
            raw = v
    decoder = DECODERS.get((api_version, kind))
    if decoder is None:
        raise UnsupportedKind(f"{api_version}/{kind}")
    obj = decoder(raw)
    obj["apiVersion"], obj["kind"] = api_version, kind
    return obj
