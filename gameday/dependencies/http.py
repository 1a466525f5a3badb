"""An HTTP dependency (another service): its health path answers 2xx."""

from __future__ import annotations

import time

import httpx

from gameday import tls
from gameday.dependencies.base import Address, DependencyCheck, DependencyKind


class Http(DependencyKind):
    kind = "http"
    label = "HTTP service"
    default_port = 80
    words = ()

    def placeholders(self, address: Address) -> dict[str, str]:
        return {**super().placeholders(address), "url": f"http://{address.host}:{address.port}"}

    def check(self, name: str, address: Address, timeout: float) -> DependencyCheck:
        url = f"http://{address.host}:{address.port}{address.path or '/'}"
        start = time.monotonic()
        try:
            status = httpx.get(url, timeout=timeout, verify=tls.context()).status_code
        except httpx.HTTPError as exc:
            return DependencyCheck(name, False, time.monotonic() - start, str(exc) or type(exc).__name__,
                                   f"curl {url}")
        return DependencyCheck(name, 200 <= status < 300, time.monotonic() - start, f"HTTP {status}", f"curl {url}")

    def command(self, address: Address) -> str:
        return f"curl -fsS http://{address.host}:{address.port}{address.path or '/'}"
