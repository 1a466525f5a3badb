"""HTTP calls to the service through the load balancer (``target.base_url()``), never raising on a failed call.

A refused connection, a timeout or a reset is an answer like any other: a :class:`Call` with no status
and a one-line ``error`` in the runbook's words ("Connection refused", "timed out after 3s").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Call:
    """One HTTP request and what came back."""

    method: str
    path: str
    status: int | None
    elapsed_ms: float
    body: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        """``GET /api/products -> 200 in 4 ms`` or ``GET /api/products -> Connection refused``."""
        outcome = str(self.status) if self.status is not None else (self.error or "no answer")
        return f"{self.method} {self.path} -> {outcome} in {self.elapsed_ms:.0f} ms"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view without the body."""
        return {"method": self.method, "path": self.path, "status": self.status,
                "elapsed_ms": round(self.elapsed_ms, 1), "error": self.error}


def describe_exception(exc: BaseException, timeout: float) -> str:
    """A network failure in one line, in the runbook's words."""
    text = f"{exc!r} {exc}".lower()
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g}s"
    if "connection refused" in text or "errno 111" in text:
        return "Connection refused"
    if "reset" in text:
        return "Connection reset by peer"
    return f"{type(exc).__name__}: {exc}"[:200]


class ServiceClient:
    """Requests to one base URL with a per-request timeout; use as a context manager."""

    def __init__(self, base_url: str, timeout: float = 3.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def call(self, method: str, path: str, json: Any = None) -> Call:
        """Send one request; the answer (or the failure) as a :class:`Call`."""
        start = time.perf_counter()
        try:
            resp = self._client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            return Call(method, path, None, (time.perf_counter() - start) * 1000, None,
                        describe_exception(exc, self.timeout))
        elapsed = (time.perf_counter() - start) * 1000
        try:
            body: Any = resp.json()
        except ValueError:
            body = resp.text[:500]
        return Call(method, path, resp.status_code, elapsed, body)

    def get(self, path: str) -> Call:
        """GET a path."""
        return self.call("GET", path)

    def post(self, path: str, json: Any) -> Call:
        """POST JSON to a path."""
        return self.call("POST", path, json=json)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
