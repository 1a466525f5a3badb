"""The API server's proxy subresources: ``services/NAME[:PORT]/proxy/...`` and ``pods/NAME[:PORT]/proxy/...``.

Requests are answered by the target pod's simulated application (:mod:`.apps`). The resolution
follows the real API server (``pkg/registry/core/service/storage`` and ``pkg/registry/core/pod``
``ResourceLocation``), including its errors:

* the id is ``name``, ``name:port`` or ``scheme:name:port`` (scheme ``http`` or ``https``);
* services: a port *number* is translated to the Service port's name; the endpoint is one of the
  ready addresses whose port has that name, so a Service whose port is named must be addressed by
  port (``:80``) or name (``:http``); without a port only an unnamed port matches. No endpoints at
  all: 503 ``no endpoints available for service "NAME"``; endpoints but none ready on that port:
  the same message quoting the whole id (``"NAME:80"``), as the real server does;
* pods: without a port, the first declared container port;
* the subpath is the URL path after ``/proxy``, percent-decoded first (the Python client sends
  ``api%2Fproducts``), and the query string goes to the application untouched; a request for
  ``.../proxy`` without a subpath or ``?path=`` is redirected (301) to ``.../proxy/``.

Two deliberate differences: the endpoints are computed live with the Endpoints controller's own
function (:func:`.controllers.endpoint_subsets`) rather than read from the Endpoints object, so a
test never races the controller; and the service proxy picks endpoints round-robin per Service
(the real server picks at random), so tests can count.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from dataclasses import dataclass

from . import errors
from .api import ENDPOINTS, PODS, SERVICES, Api
from .apps import Answer, SimulatedApps
from .controllers import endpoint_subsets
from .store import Obj

KINDS = ("pods", "services")
VALID_SCHEMES = ("", "http", "https")


@dataclass(frozen=True)
class ProxyRequest:
    """One request to a proxy subresource, parsed from the URL."""

    kind: str  # "pods" | "services"
    namespace: str
    id: str  # the raw "[scheme:]name[:port]" segment, quoted by some real error messages
    path: str  # what the application is asked for: "/metrics"; "" when the URL has no subpath at all
    query: str  # passed to the application untouched

    @property
    def target(self) -> str:
        """The request target the application sees (path and query)."""
        path = self.path or "/"
        return f"{path}?{self.query}" if self.query else path


def parse(raw_path: str, query: str) -> ProxyRequest | None:
    """A proxy request if ``raw_path`` names one, else None (the request is routed as usual).

    Like the real server, the whole path is percent-decoded before it is split, so an encoded ``/``
    in the subpath (``api%2Fproducts``) separates segments and ``%3A`` in the id is a ``:``.
    """
    segs = urllib.parse.unquote(raw_path).split("/")
    # "", "api", "v1", "namespaces", NS, KIND, ID, "proxy", subpath...
    if len(segs) < 8 or segs[1:4] != ["api", "v1", "namespaces"] or segs[5] not in KINDS or segs[7] != "proxy":
        return None
    if not segs[4] or not segs[6]:
        return None
    rest = segs[8:]
    if rest:
        path = "/" + "/".join(rest).lstrip("/")
    else:  # ".../proxy": the `path` query parameter (PodProxyOptions.path), else nothing
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        path = params.get("path", [""])[-1]
        if path and not path.startswith("/"):
            path = "/" + path
    return ProxyRequest(segs[5], segs[4], segs[6], path, query)


def split_scheme_name_port(id_: str) -> tuple[str, str, str] | None:
    """``utilnet.SplitSchemeNamePort``: ``name``, ``name:port`` or ``scheme:name:port``; None if invalid."""
    parts = id_.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        return None
    if not name or scheme not in VALID_SCHEMES:
        return None
    return scheme, name, port


def unreachable(message: str) -> errors.ApiError:
    """503 as the real proxy reports a failed dial to the pod."""
    return errors.ApiError(503, "ServiceUnavailable", f"error trying to reach service: {message}")


class Proxy:
    """Resolves proxy requests to a pod and port, and lets the pod's simulated application answer."""

    def __init__(self, api: Api, apps: SimulatedApps) -> None:
        self.api = api
        self.apps = apps
        self._next: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        #: (namespace, service) -> "host:port" of a real HTTP server the service proxy forwards to
        self.loopback: dict[tuple[str, str], str] = {}

    def forward(self, method: str, req: ProxyRequest, body: bytes) -> Answer:
        """The application's answer, or an :class:`errors.ApiError` (404, 503, 400) like the real server."""
        split = split_scheme_name_port(req.id)
        if split is None:
            what = "service" if req.kind == "services" else "pod"
            raise errors.bad_request(f'invalid {what} request "{req.id}"')
        scheme, name, port = split
        if req.kind == "services" and (req.namespace, name) in self.loopback:
            return _forward(self.loopback[(req.namespace, name)], method, req.target, body)
        if req.kind == "services":
            pod, target_port = self._service_endpoint(req.namespace, name, port, req.id)
        else:
            pod = self.api.get(PODS, req.namespace, name)
            target_port = port or _first_container_port(pod)
        self._check_listening(pod, target_port)
        if scheme == "https":  # the simulated applications speak plain HTTP only
            raise unreachable("tls: first record does not look like a TLS handshake")
        return self.apps.handle(pod, method, req.target, body)

    # -- services --------------------------------------------------------------------------------------
    def _service_endpoint(self, ns: str, name: str, port: str, id_: str) -> tuple[Obj, str]:
        """``ResourceLocation`` of a Service: one ready endpoint pod (round-robin) and its target port."""
        svc = self.api.store.get(SERVICES, ns, name)
        if port.isdigit():
            if svc is None:
                raise errors.not_found("services", "", name)
            named = next((p for p in svc["spec"].get("ports") or [] if p.get("port") == int(port)), None)
            if named is None:
                raise errors.ApiError(
                    503, "ServiceUnavailable", f'no service port {port} found for service "{name}"'
                )
            port = named.get("name", "")
        if svc is not None and svc["spec"].get("selector"):
            subsets = endpoint_subsets(self.api, ns, svc)
        else:  # selector-less Services have hand-written Endpoints (or none: 404 like the real server)
            subsets = self.api.get(ENDPOINTS, ns, name).get("subsets") or []
        if not subsets:
            raise errors.ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
        candidates = [
            (address, str(p["port"]))
            for subset in subsets
            for p in subset.get("ports") or []
            if p.get("name", "") == port
            for address in subset.get("addresses") or []
        ]
        if not candidates:
            raise errors.ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{id_}"')
        with self._lock:
            turn = self._next.get((ns, name), 0)
            self._next[(ns, name)] = turn + 1
        address, target_port = candidates[turn % len(candidates)]
        ref = address.get("targetRef") or {}
        pod = self.api.store.get(PODS, ns, ref.get("name", "")) if ref.get("kind") == "Pod" else None
        if pod is None:  # gone since the endpoints were computed: the real server skips invalid addresses
            raise errors.ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{id_}"')
        return pod, target_port

    # -- pods ------------------------------------------------------------------------------------------
    @staticmethod
    def _check_listening(pod: Obj, port: str) -> None:
        """503 unless the pod runs and a started container would listen on ``port``.

        A pod that declares container ports listens on those only; one that declares none is assumed
        to listen on whatever port is asked (declaring ports is optional in Kubernetes).
        """
        status = pod.get("status") or {}
        ip = status.get("podIP", "")
        if status.get("phase") != "Running" or not ip:
            reason = f"dial tcp {ip}:{port or 80}" if ip else f"pod {pod['metadata']['name']} has no IP address"
            raise unreachable(f"{reason}: connect: connection refused")
        containers = pod["spec"].get("containers") or []
        declared = {str(cp.get("containerPort")): c["name"] for c in containers for cp in c.get("ports") or []}
        serving = declared.get(port or "80") if declared else containers[0]["name"] if containers else None
        cs = next((c for c in status.get("containerStatuses") or [] if c.get("name") == serving), None)
        if serving is None or cs is None or not cs.get("started") or "running" not in (cs.get("state") or {}):
            raise unreachable(f"dial tcp {ip}:{port or 80}: connect: connection refused")


def _first_container_port(pod: Obj) -> str:
    """The port the real server uses when a pod proxy URL names none: the first declared one."""
    for c in pod["spec"].get("containers") or []:
        for cp in c.get("ports") or []:
            return str(cp.get("containerPort"))
    return ""


def _forward(address: str, method: str, target: str, body: bytes) -> Answer:
    """A request forwarded to a real server on loopback (:meth:`FakeKube.map_service`); its answer as sent."""
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, target, body=body or None,
                     headers={"Content-Type": "application/json"} if body else {})
        response = conn.getresponse()
        return Answer(response.status, response.read(), response.getheader("Content-Type") or "text/plain")
    except OSError as exc:
        raise unreachable(f"dial tcp {address}: {exc}") from None
    finally:
        conn.close()
