"""Small readiness probes used by the targets while they wait: TCP connect and HTTP GET.

The runbook's step-3 dependency checks (pg_isready, redis-cli ping, Kafka ApiVersions) are the dependency kinds'
own: :mod:`gameday.dependencies`.
"""

from __future__ import annotations

import socket

import httpx

from gameday import tls


def tcp_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    """Whether something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 0.5) -> int | None:
    """The HTTP status of a GET, or None when nothing answered in time."""
    try:
        return httpx.get(url, timeout=timeout, verify=tls.context()).status_code
    except httpx.HTTPError:
        return None


def http_probe(url: str, timeout: float) -> tuple[int | None, str]:
    """A GET as a kubelet's HTTP probe sees it: (status, why it failed) — ``timeout`` when nothing answered in time
    (a hung process: the connection is accepted, never answered), ``refused`` when nothing listens, else the
    error's name; an answer is (status, "")."""
    try:
        return httpx.get(url, timeout=timeout, verify=tls.context()).status_code, ""
    except httpx.TimeoutException:
        return None, "timeout"
    except httpx.ConnectError as exc:
        return None, "refused" if "refused" in str(exc).lower() else type(exc).__name__
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
