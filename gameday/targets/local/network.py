"""The local target's network faults: the fault proxy between the replicas and their dependencies, driven through
its API (Toxiproxy's).
"""

from __future__ import annotations

from typing import Any

import httpx

from gameday import tls
from gameday.targets.local.core import LocalCore
from gameday.targets.local.service import FAULT_PROXY
from gameday.targets.model import NotApplicableError, TargetError, profile_dependency


class LocalNetwork(LocalCore):
    """Toxics and partitions on the replicas' links to their dependencies."""

    def _proxy_api(self, method: str, path: str, body: dict[str, Any] | None = None,
                   missing_ok: bool = False) -> Any:
        """One call to the fault proxy's API; one clear line when the stack has none or it fails."""
        port = self.stack["ports"].get(FAULT_PROXY)
        if port is None:
            raise NotApplicableError("this local stack runs no fault proxy (started before it existed): "
                                     "'gameday down' and 'gameday up' it")
        try:
            answer = httpx.request(method, f"http://127.0.0.1:{port}{path}", json=body, timeout=5.0,
                                   verify=tls.context())
        except httpx.HTTPError as exc:
            raise TargetError(f"the fault proxy on 127.0.0.1:{port} does not answer: {exc or type(exc).__name__}"
                              ) from None
        if missing_ok and answer.status_code == 404:
            return None
        if answer.status_code >= 400:
            raise TargetError(f"the fault proxy refused {method} {path}: {answer.text.strip()[:200]}")
        return answer.json() if answer.content else None

    def _proxied(self, dependency: str) -> str:
        """A dependency the fault proxy fronts (its proxy is named like it)."""
        profile_dependency(self.profile, dependency)
        return dependency

    def add_toxic(self, dependency: str, toxic: dict[str, Any]) -> None:
        self._proxy_api("POST", f"/proxies/{self._proxied(dependency)}/toxics", toxic)

    def remove_toxic(self, dependency: str, name: str) -> None:
        self._proxy_api("DELETE", f"/proxies/{self._proxied(dependency)}/toxics/{name}", missing_ok=True)

    def set_dependency_link(self, dependency: str, enabled: bool) -> None:
        self._proxy_api("POST", f"/proxies/{self._proxied(dependency)}", {"enabled": enabled})

    def reset_network_faults(self) -> None:
        self._proxy_api("POST", "/reset")

    def _fault_proxy_status(self, pid: int | None) -> dict[str, Any] | None:
        """What ``status`` shows of the fault proxy: pid, API port, and each proxy with its active toxics."""
        port = self.stack["ports"].get(FAULT_PROXY)
        if port is None:
            return None
        try:
            proxies = httpx.get(f"http://127.0.0.1:{port}/proxies", timeout=2.0, verify=tls.context()).json()
        except (httpx.HTTPError, ValueError) as exc:
            return {"pid": pid, "api_port": port, "error": str(exc) or type(exc).__name__, "proxies": []}
        return {"pid": pid, "api_port": port, "api_url": f"http://127.0.0.1:{port}",
                "proxies": [{k: proxy.get(k) for k in ("name", "listen", "upstream", "enabled", "toxics")}
                            for proxy in proxies.values()]}
