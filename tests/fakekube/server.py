"""The HTTP front end: routing, content negotiation, watch streams and pod logs.

Plain HTTP/1.1 on 127.0.0.1, no authentication. Responses are always JSON
(``Content-Type: application/json``) except pod logs (``text/plain``):

* protobuf ``Accept`` headers are answered with JSON; client-go picks the decoder from the
  response ``Content-Type``, so typed clients (kubectl) accept it;
* aggregated discovery (``as=APIGroupDiscoveryList``) is answered with the plain
  ``APIVersions``/``APIGroupList`` documents, which client-go falls back to;
* ``as=Table`` is honoured (kubectl's server-side printing), as is ``as=PartialObjectMetadata(List)``;
* protobuf request bodies (kubectl's typed clients, e.g. ``kubectl create configmap``, send them and
  do not retry with JSON after a 415) are decoded for v1 ConfigMap, Secret and Namespace
  (:mod:`.protobuf`); other kinds get ``415 UnsupportedMediaType`` with a workaround;
* ``pods/NAME[:PORT]/proxy/...`` and ``services/NAME[:PORT]/proxy/...`` answer with the pod's simulated
  application (:mod:`.proxy`, :mod:`.apps`): its body and content type as they are, not JSON.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

from . import errors, openapi, patch, protobuf, proxy, resources, tables
from .api import PDBS, PODS, Api
from .kubelet import pod_is_ready
from .logs import LogStore
from .resources import ResourceType
from .selectors import selector_object_matches
from .store import Obj

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
ENDPOINTS_WARNING = '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"'
EXEC_MESSAGE = (
    "fakekube cannot run processes in containers: pods/{sub} is not supported by this fake API server "
    "(no kubelet, no container runtime). Run dependency checks such as pg_isready, redis-cli ping or "
    "kafka-broker-api-versions from the test runner instead."
)
PROTOBUF_MESSAGE = (
    "fakekube decodes protobuf request bodies only for v1 ConfigMap, Secret and Namespace, not {kind}; "
    "kubectl does not fall back to JSON, so create such objects with "
    "`kubectl create ... --dry-run=client -o yaml | kubectl apply -f -` or `kubectl apply -f FILE`"
)
DEFAULT_WATCH_TIMEOUT = 1800.0


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


class _Params:
    """Query parameters (last value wins)."""

    def __init__(self, query: str) -> None:
        self._q = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._q.get(key, default)

    def int(self, key: str) -> int | None:
        value = self._q.get(key)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError as exc:
            raise errors.bad_request(f"invalid value for {key}: {value!r}") from exc


class FakeKubeHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that can close every open connection and join its threads."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: tens of clients connecting at once (a load generator
    # through the service proxy) overflow it and the kernel drops SYNs, which are retried after 1 s
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], api: Api, logs: LogStore, pod_proxy: proxy.Proxy | None = None
    ) -> None:
        super().__init__(address, Handler)
        self.api = api
        self.logs = logs
        self.proxy = pod_proxy
        self.stopping = threading.Event()
        self.requests: deque[dict[str, Any]] = deque(maxlen=2000)
        self.errors: list[str] = []
        #: API groups not served (a cluster without Chaos Mesh's CRDs: chaos-mesh.org)
        self.hidden_groups: set[str] = set()
        self._conn_lock = threading.Lock()
        self._conns: dict[threading.Thread, socket.socket] = {}

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_one, args=(request, client_address), name="fakekube-http", daemon=True
        )
        with self._conn_lock:
            self._conns[thread] = request
        thread.start()

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            if not self.stopping.is_set():
                self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._conn_lock:
                self._conns.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quieter than the default
        import sys
        import traceback

        if isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away (killed): not our error
            return
        self.errors.append(traceback.format_exc())

    def close_connections(self, timeout: float = 5.0) -> None:
        """Shut every client socket down and wait for the handler threads to finish."""
        self.stopping.set()
        self.api.store.wake_all()
        self.logs.wake()
        with self._conn_lock:
            conns = list(self._conns.items())
        for _thread, sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread, _sock in conns:
            thread.join(max(deadline - time.monotonic(), 0.01))


class Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    server: FakeKubeHTTPServer
    server_version = "fakekube/1.0"
    timeout = 120

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm plus the
        # client's delayed ACK add ~40 ms to every response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- entry points ----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing --------------------------------------------------------------------------------------
    @property
    def api(self) -> Api:
        return self.server.api

    def _record(self, method: str, status: int, started: float) -> None:
        self.server.requests.append(
            {
                "method": method,
                "path": self.path,
                "status": status,
                "ms": round((time.monotonic() - started) * 1000, 1),
                "accept": self.headers.get("Accept", ""),
                "content_type": self.headers.get("Content-Type", ""),
                "user_agent": self.headers.get("User-Agent", ""),
            }
        )

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _decode_body(self, raw: bytes, *, for_patch: bool = False) -> Any:
        ctype = (self.headers.get("Content-Type") or JSON).split(";", 1)[0].strip().lower()
        if ctype == PROTOBUF and not for_patch:
            try:
                return protobuf.decode(raw)
            except protobuf.UnsupportedKind as exc:
                raise errors.ApiError(415, "UnsupportedMediaType", PROTOBUF_MESSAGE.format(kind=exc)) from exc
            except (ValueError, IndexError) as exc:
                raise errors.bad_request(f"error decoding protobuf request body: {exc}") from exc
        if ctype.endswith("protobuf") or ctype == "application/cbor":
            raise errors.unsupported_media_type(
                ctype, [JSON, "application/yaml"] + (list(patch.SUPPORTED) if for_patch else [])
            )
        if not raw:
            return None
        try:
            if ctype in ("application/yaml", "application/apply-patch+yaml"):
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request(f"error decoding request body: {exc}") from exc

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_raw(self, status: int, content_type: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunked(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _client_gone(self) -> bool:
        """Whether the client closed a streaming connection (watch, log follow)."""
        try:
            readable, _w, _x = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            gone = self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            gone = True
        if gone:
            self.close_connection = True
        return gone

    def _accept(self) -> dict[str, str]:
        """The first Accept entry that asks for an ``as=`` transformation, as a dict of its params."""
        for part in (self.headers.get("Accept") or "").split(","):
            fields = [f.strip() for f in part.split(";")]
            params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
            if params.get("as") in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
                return params
        return {}

    # -- routing ---------------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        status = 500
        started = time.monotonic()
        try:
            url = urllib.parse.urlsplit(self.path)
            target = proxy.parse(url.path, url.query) if self.server.proxy is not None else None
            if target is not None:
                status = self._proxy(method, target)
            else:
                params = _Params(url.query)
                status = self._route(method, url.path.rstrip("/") or "/", params)
        except errors.ApiError as exc:
            status = exc.code
            self._send_json(exc.code, exc.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            import traceback

            self.server.errors.append(traceback.format_exc())
            status = 500
            err = errors.ApiError(500, "InternalError", f"fakekube internal error: {exc!r}")
            try:
                self._send_json(500, err.status())
            except OSError:
                self.close_connection = True
        finally:
            self._record(method, status, started)

    def _route(self, method: str, path: str, params: _Params) -> int:
        if path == "/version":
            self._send_json(200, resources.SERVER_VERSION)
            return 200
        if path in ("/healthz", "/livez", "/readyz"):
            self._send_text(200, "ok")
            return 200
        if path == "/openapi/v3":
            self._send_json(200, openapi.root_doc())
            return 200
        if path.startswith("/openapi/v3/"):
            rest = path[len("/openapi/v3/") :].split("/")
            doc = None
            if rest[0] == "api" and len(rest) == 2:
                doc = openapi.group_version_doc("", rest[1])
            elif rest[0] == "apis" and len(rest) == 3:
                doc = openapi.group_version_doc(rest[1], rest[2])
            if doc is None:
                raise errors.not_found_path(path)
            self._send_json(200, doc)
            return 200
        if path == "/api":
            self._send_json(200, resources.api_versions())
            return 200
        if path == "/apis":
            listed = resources.api_group_list()
            listed["groups"] = [g for g in listed["groups"] if g["name"] not in self.server.hidden_groups]
            self._send_json(200, listed)
            return 200
        segs = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
        if segs[0] == "api" and len(segs) >= 2:
            group, version, rest = "", segs[1], segs[2:]
        elif segs[0] == "apis" and len(segs) >= 2:
            if segs[1] in self.server.hidden_groups:
                raise errors.not_found_path(path)
            if len(segs) == 2:
                doc = resources.api_group(segs[1])
                if doc is None:
                    raise errors.not_found_path(path)
                self._send_json(200, doc)
                return 200
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise errors.not_found_path(path)
        if not rest:
            doc = resources.api_resource_list(group, version)
            if doc is None:
                raise errors.not_found_path(path)
            self._send_json(200, doc)
            return 200
        if rest[0] == "watch":
            rest = rest[1:]
            params._q["watch"] = "true"
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3:
            raise errors.not_found_path(path)
        rt = resources.lookup(group, version, plural)
        if rt is None:
            raise errors.not_found_path(path)
        if rt.namespaced is False and namespace is not None:
            raise errors.not_found_path(path)
        return self._resource(method, rt, namespace, name, sub, params)

    # -- pods/proxy, services/proxy -------------------------------------------------------------------
    def _proxy(self, method: str, target: proxy.ProxyRequest) -> int:
        body = self._read_body()  # read before any error answer, so the keep-alive connection stays usable
        assert self.server.proxy is not None
        if not target.path:
            # the real proxy (UpgradeAwareHandler) redirects an empty subpath to ".../proxy/"
            url = urllib.parse.urlsplit(self.path)
            location = url.path + "/" + (f"?{url.query}" if url.query else "")
            self._send_raw(301, "text/plain; charset=utf-8", b"", {"Location": location})
            return 301
        answer = self.server.proxy.forward(method, target, body)
        self._send_raw(answer.status, answer.content_type, answer.content)
        return answer.status

    # -- resources -------------------------------------------------------------------------------------
    def _resource(
        self,
        method: str,
        rt: ResourceType,
        ns: str | None,
        name: str | None,
        sub: str | None,
        params: _Params,
    ) -> int:
        dry_run = params.get("dryRun") == "All"
        strict = params.get("fieldValidation")
        if name is None:
            if method == "GET":
                if _truthy(params.get("watch")):
                    self._watch(rt, ns, params)
                    return 200
                return self._list(rt, ns, params)
            if method == "POST":
                body = self._decode_body(self._read_body())
                obj = self.api.create(rt, ns, body, dry_run=dry_run, field_validation=strict)
                self._send_json(201, obj)
                return 201
            if method == "DELETE":
                options = self._delete_options(params)
                self._send_json(
                    200,
                    self.api.delete_collection(
                        rt,
                        ns,
                        params.get("labelSelector"),
                        params.get("fieldSelector"),
                        options,
                        dry_run=dry_run,
                    ),
                )
                return 200
            raise errors.method_not_allowed(f"{method} is not supported on a collection")
        if sub is None or sub == "status":
            return self._item(method, rt, ns, name, sub, params, dry_run, strict)
        if sub == "scale" and "scale" in rt.subresources:
            return self._scale(method, rt, ns or "", name, params, dry_run)
        if rt.kind == "Pod" and sub == "log" and method == "GET":
            self._log(ns or "", name, params)
            return 200
        if rt.kind == "Pod" and sub in ("exec", "attach", "portforward"):
            self._read_body()
            raise errors.not_implemented(EXEC_MESSAGE.format(sub=sub))
        if rt.kind == "Pod" and sub == "eviction" and method == "POST":
            body = self._decode_body(self._read_body()) or {}
            self._send_json(201, self._evict(ns or "", name, body, dry_run))
            return 201
        raise errors.not_found_path(self.path)

    def _item(
        self,
        method: str,
        rt: ResourceType,
        ns: str | None,
        name: str,
        sub: str | None,
        params: _Params,
        dry_run: bool,
        strict: str | None = None,
    ) -> int:
        headers = {"Warning": ENDPOINTS_WARNING} if rt.kind == "Endpoints" else None
        if method == "GET":
            obj = self.api.get(rt, ns, name)
            self._send_json(
                200, self._render(rt, [obj], obj["metadata"].get("resourceVersion"), single=True), headers
            )
            return 200
        if method == "PUT":
            body = self._decode_body(self._read_body())
            self._send_json(
                200,
                self.api.update(
                    rt, ns, name, body, subresource=sub, dry_run=dry_run, field_validation=strict,
                    manager=self._manager(params),
                ),
                headers,
            )
            return 200
        if method == "PATCH":
            ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            raw = self._read_body()
            if ctype == patch.APPLY_PATCH:
                patch.apply_patch(ctype, {}, {})  # raises the 415 with an explanation
            if ctype not in patch.SUPPORTED:
                raise errors.unsupported_media_type(ctype, list(patch.SUPPORTED))
            body = self._decode_body(raw, for_patch=True)
            self._send_json(
                200,
                self.api.patch(
                    rt, ns, name, ctype, body, subresource=sub, dry_run=dry_run, field_validation=strict,
                    manager=self._manager(params),
                ),
                headers,
            )
            return 200
        if method == "DELETE":
            options = self._delete_options(params)
            result = self.api.delete(rt, ns, name, options, dry_run=dry_run)
            self._send_json(200, result, headers)
            return 200
        raise errors.method_not_allowed(f"{method} is not supported on {rt.plural}")

    def _manager(self, params: _Params) -> str:
        """The field manager of a write: ``?fieldManager=`` (kubectl edit/patch send theirs), else the user agent's
        program name, as the real server derives it."""
        agent = (self.headers.get("User-Agent") or "unknown").split("/", 1)[0]
        return params.get("fieldManager") or agent or "unknown"

    def _delete_options(self, params: _Params) -> Obj:
        raw = self._read_body()
        options: Obj = {}
        if raw:
            decoded = self._decode_body(raw)
            if isinstance(decoded, dict):
                options = decoded
        if params.get("propagationPolicy"):
            options["propagationPolicy"] = params.get("propagationPolicy")
        if params.int("gracePeriodSeconds") is not None:
            options["gracePeriodSeconds"] = params.int("gracePeriodSeconds")
        if _truthy(params.get("orphanDependents")) or options.get("orphanDependents") is True:
            options.setdefault("propagationPolicy", "Orphan")
        return options

    def _scale(
        self, method: str, rt: ResourceType, ns: str, name: str, params: _Params, dry_run: bool
    ) -> int:
        if method == "GET":
            self._send_json(200, self.api.get_scale(rt, ns, name))
        elif method == "PUT":
            body = self._decode_body(self._read_body())
            self._send_json(200, self.api.update_scale(rt, ns, name, body or {}, dry_run=dry_run))
        elif method == "PATCH":
            ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            body = self._decode_body(self._read_body(), for_patch=True)
            self._send_json(200, self.api.patch_scale(rt, ns, name, ctype, body, dry_run=dry_run))
        else:
            raise errors.method_not_allowed(f"{method} is not supported on {rt.plural}/scale")
        return 200

    def _render(self, rt: ResourceType, items: list[Obj], rv: str | None, *, single: bool) -> Obj:
        accept = self._accept()
        if accept.get("as") == "Table":
            params = _Params(urllib.parse.urlsplit(self.path).query)
            return tables.table(rt, items, rv, params.get("includeObject") or "Metadata")
        if accept.get("as") in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            if single:
                return tables.partial_metadata(items[0])
            return {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": rv},
                "items": [tables.partial_metadata(o) for o in items],
            }
        if single:
            return items[0]
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": rv},
            "items": items,
        }

    def _list(self, rt: ResourceType, ns: str | None, params: _Params) -> int:
        items, rv = self.api.list(rt, ns, params.get("labelSelector"), params.get("fieldSelector"))
        headers = {"Warning": ENDPOINTS_WARNING} if rt.kind == "Endpoints" else None
        self._send_json(200, self._render(rt, items, str(rv), single=False), headers)
        return 200

    # -- watch -----------------------------------------------------------------------------------------
    def _watch(self, rt: ResourceType, ns: str | None, params: _Params) -> None:
        store = self.api.store
        match = self.api.matcher(rt, ns, params.get("labelSelector"), params.get("fieldSelector"))
        timeout = params.int("timeoutSeconds")
        deadline = time.monotonic() + (timeout if timeout is not None else DEFAULT_WATCH_TIMEOUT)
        rv_param = params.get("resourceVersion") or ""
        send_initial = _truthy(params.get("sendInitialEvents"))
        table_mode = self._accept().get("as") == "Table"
        initial: list[Obj] = []
        with store.lock:
            current = store.resource_version
            if send_initial or rv_param in ("", "0"):
                initial, _ = self.api.list(rt, ns, params.get("labelSelector"), params.get("fieldSelector"))
                last = current
            else:
                try:
                    last = int(rv_param)
                except ValueError as exc:
                    raise errors.bad_request(f"invalid resourceVersion {rv_param!r}") from exc
                _changes, ok = store.changes_since(last)
                if not ok:
                    self._start_chunked(JSON)
                    gone = errors.gone(f"too old resource version: {last} ({current})")
                    self._chunk(json.dumps({"type": "ERROR", "object": gone.status()}).encode() + b"\n")
                    self._end_chunked()
                    return
        self._start_chunked(JSON)

        def emit(etype: str, obj: Obj) -> None:
            if table_mode and etype != "BOOKMARK":
                obj = tables.table(rt, [obj], obj["metadata"].get("resourceVersion"), "Object")
            self._chunk(json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode() + b"\n")

        try:
            for obj in initial:
                emit("ADDED", obj)
            if send_initial:
                emit(
                    "BOOKMARK",
                    {
                        "kind": rt.kind,
                        "apiVersion": rt.api_version,
                        "metadata": {
                            "resourceVersion": str(last),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                )
            while not self.server.stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                changes, ok = store.changes_since(last)
                if not ok:
                    gone = errors.gone(f"too old resource version: {last}")
                    self._chunk(json.dumps({"type": "ERROR", "object": gone.status()}).encode() + b"\n")
                    break
                for change in changes:
                    last = change.rv
                    if change.key != rt.key:
                        continue
                    obj = dict(change.obj, apiVersion=rt.api_version, kind=rt.kind)
                    now_match = match(obj)
                    was_match = change.old is not None and match(change.old)
                    if change.type == "ADDED" and now_match:
                        emit("ADDED", obj)
                    elif change.type == "MODIFIED":
                        if now_match and was_match:
                            emit("MODIFIED", obj)
                        elif now_match:
                            emit("ADDED", obj)
                        elif was_match:
                            emit("DELETED", obj)
                    elif change.type == "DELETED" and now_match:
                        emit("DELETED", obj)
                if not changes:
                    if self._client_gone():
                        return
                    store.wait_for_change(last, min(remaining, 0.5))
        except OSError:
            self.close_connection = True
            return
        self._end_chunked()

    # -- pods/log --------------------------------------------------------------------------------------
    def _log(self, ns: str, name: str, params: _Params) -> None:
        pod = self.api.get(PODS, ns, name)
        containers = [c["name"] for c in pod["spec"].get("containers") or []]
        container = params.get("container") or ""
        if not container:
            default = (pod["metadata"].get("annotations") or {}).get(
                "kubectl.kubernetes.io/default-container"
            )
            if default in containers:
                container = default
            elif len(containers) == 1:
                container = containers[0]
            else:
                raise errors.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: "
                    f"[{' '.join(containers)}]"
                )
        if container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        cs = next(
            (c for c in (pod.get("status") or {}).get("containerStatuses") or [] if c["name"] == container),
            None,
        )
        waiting = ((cs or {}).get("state") or {}).get("waiting") or {}
        if cs is None or (waiting and waiting.get("reason") != "CrashLoopBackOff"):
            reason = waiting.get("reason", "ContainerCreating")
            raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
        logs = self.server.logs
        opts = {
            "previous": _truthy(params.get("previous")),
            "tail": params.int("tailLines"),
            "since_seconds": params.int("sinceSeconds"),
            "timestamps": _truthy(params.get("timestamps")),
            "limit_bytes": params.int("limitBytes"),
        }
        if not _truthy(params.get("follow")):
            self._send_text(200, "".join(logs.lines(ns, name, container, **opts)))
            return
        self._start_chunked("text/plain")
        try:
            lines = logs.lines(ns, name, container, **opts)
            if lines:
                self._chunk("".join(lines).encode())
            sent = logs.count(ns, name, container)
            version = logs.version
            while not self.server.stopping.is_set():
                if self._client_gone():
                    return
                version = logs.wait(version, 0.5)
                if self.api.store.get(PODS, ns, name) is None:
                    break
                total = logs.count(ns, name, container)
                if total > sent:
                    new = logs.lines(ns, name, container, tail=total - sent, timestamps=opts["timestamps"])
                    self._chunk("".join(new).encode())
                    sent = total
                elif total < sent:  # restarted container: follow the new incarnation
                    sent = 0
        except OSError:
            self.close_connection = True
            return
        self._end_chunked()

    # -- eviction --------------------------------------------------------------------------------------
    def _evict(self, ns: str, name: str, body: Obj, dry_run: bool) -> Obj:
        pod = self.api.get(PODS, ns, name)
        with self.api.store.lock:
            for pdb in self.api.store.view(PDBS, ns):
                if not selector_object_matches(
                    (pdb.get("spec") or {}).get("selector"), pod["metadata"].get("labels")
                ):
                    continue
                status = pdb.get("status") or {}
                if pod_is_ready(pod) and status.get("disruptionsAllowed", 0) <= 0:
                    raise errors.ApiError(
                        429,
                        "TooManyRequests",
                        "Cannot evict pod as it would violate the pod's disruption budget.",
                        {
                            "causes": [
                                {
                                    "reason": "DisruptionBudget",
                                    "message": f"The disruption budget {pdb['metadata']['name']} needs "
                                    f"{status.get('desiredHealthy', 0)} healthy pods and has "
                                    f"{status.get('currentHealthy', 0)} currently",
                                }
                            ]
                        },
                    )
            self.api.delete(PODS, ns, name, body.get("deleteOptions") or {}, dry_run=dry_run)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
