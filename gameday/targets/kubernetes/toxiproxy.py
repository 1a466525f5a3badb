"""A Toxiproxy deployed in the service's namespace, driven through the API server's service proxy.

Where a team runs Toxiproxy next to its service (``deploy/toxiproxy/``: the upstream image, a Service on 8474) and
points the service's dependency addresses at its proxies, the profile says so (``kubernetes.toxiproxy: {service,
port, proxies: {dependency: proxy}}``) and the network faults become the very toxics the local target puts on its
own fault proxy: the same JSON, the same HTTP API (Toxiproxy's), reached at
``/api/v1/namespaces/NS/services/NAME:PORT/proxy/...``. Nothing needs a port-forward or a route into the cluster:
whoever may proxy to services in the namespace (RBAC ``services/proxy``) can drive it.

The official client's ``connect_post_namespaced_service_proxy_with_path`` sends no body, and Toxiproxy's API needs
JSON bodies, so each call is serialised by the client's own ``ApiClient`` (its host, TLS and credentials) instead.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import urllib3

from gameday.targets.kubernetes.client import KubeClient, _one_line
from gameday.targets.model import NotApplicableError, TargetError


class ToxiproxyInNamespace:
    """Toxiproxy's API (``/proxies``, ``/proxies/{name}/toxics``, ``/reset``) through the service proxy."""

    def __init__(self, client: KubeClient, namespace: str, service: str, port: int,
                 proxies: dict[str, str]) -> None:
        self.client = client
        self.namespace = namespace
        self.service = service
        self.port = port
        self.proxies = dict(proxies)

    def where(self) -> str:
        return f"Toxiproxy service/{self.service}:{self.port} in namespace {self.namespace!r}"

    def proxy_of(self, dependency: str) -> str:
        """The Toxiproxy proxy the service's pods reach ``dependency`` through (the profile's mapping)."""
        try:
            return self.proxies[dependency]
        except KeyError:
            raise NotApplicableError(f"{dependency}: kubernetes.toxiproxy.proxies names no proxy for it "
                                     f"(it has: {', '.join(sorted(self.proxies)) or 'none'})") from None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, missing_ok: bool = False) -> Any:
        """One request to Toxiproxy's API; its JSON answer (None for an empty one, or a 404 with ``missing_ok``)."""
        api = self.client.api
        resource = (f"/api/v1/namespaces/{urllib.parse.quote(self.namespace)}/services/"
                    f"{urllib.parse.quote(self.service)}:{self.port}/proxy{path}")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        try:
            prepared = api.param_serialize(method, resource, header_params=headers, body=body,
                                           auth_settings=["BearerToken"])
            response = api.call_api(*prepared, _request_timeout=self.client.timeout)
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TargetError(f"{self.where()} does not answer: {_one_line(getattr(exc, 'reason', None) or exc)}"
                              ) from None
        text = bytes(data or b"").decode("utf-8", errors="replace").strip()
        if missing_ok and response.status == 404:
            return None
        if response.status >= 400:
            raise TargetError(f"{self.where()} refused {method} {path}: {response.status} {_one_line(text)[:200]}")
        try:
            return json.loads(text) if text else None
        except ValueError:
            raise TargetError(f"{self.where()}: {method} {path} answered something that is not JSON: "
                              f"{_one_line(text)[:120]}") from None

    # --- the target's network-fault operations --------------------------------------------------------------
    def add_toxic(self, dependency: str, toxic: dict[str, Any]) -> None:
        self.call("POST", f"/proxies/{self.proxy_of(dependency)}/toxics", toxic)

    def remove_toxic(self, dependency: str, name: str) -> None:
        self.call("DELETE", f"/proxies/{self.proxy_of(dependency)}/toxics/{name}", missing_ok=True)

    def set_link(self, dependency: str, enabled: bool) -> None:
        self.call("POST", f"/proxies/{self.proxy_of(dependency)}", {"enabled": enabled})

    def reset(self) -> None:
        self.call("POST", "/reset")
