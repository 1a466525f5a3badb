"""Prometheus metrics, and the outermost ASGI middleware: metrics, one log line per request, last-resort 500.

Requests are labelled by route template (``/v2/events/{event_id}``), never by raw path, so ids do not
explode the label space. The metric names are those of ecommerce-backend, so the same queries work.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, PlatformCollector, ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import FIELDS_ATTR, get_logger

log = get_logger("http")

UNMATCHED_ROUTE = "<unmatched>"
# Set in the scope by the 503 handler: why a request could not be served (logged with the request).
UNAVAILABLE_REASON_KEY = "ticket_office.unavailable"

INTERNAL_ERROR_BODY = b'{"error":{"code":"internal","message":"internal error"}}'


class Metrics:
    """Every metric of the service, on a registry of its own."""

    def __init__(self, version: str, instance: str) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.http_requests = Counter("http_requests_total", "HTTP requests by method, route and status",
                                     ["method", "route", "status"], registry=r)
        self.http_duration = Histogram(
            "http_request_duration_seconds", "HTTP request duration by route and status", ["route", "status"],
            registry=r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0))
        self.dependency_up = Gauge("dependency_up", "1 if the dependency passed its last readiness check",
                                   ["dependency"], registry=r)
        self.app_ready = Gauge("app_ready", "1 while /_status/ready answers 200", registry=r)
        Info("app", "Version and instance of this replica", registry=r).info(
            {"version": version, "instance": instance})
        for dependency in ("postgres", "redis"):
            self.dependency_up.labels(dependency=dependency).set(0)
        self.app_ready.set(0)


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``<unmatched>``."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestObserver:
    """Counts, times and logs every HTTP request; an unhandled exception becomes a logged JSON 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; record its outcome once it is over, whatever happened."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": None}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            error = exc
            if seen["status"] is None:
                await send_wrapper({"type": "http.response.start", "status": 500,
                                    "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": INTERNAL_ERROR_BODY})
        finally:
            self._record(scope, seen["status"] or 500, time.perf_counter() - started, error)

    def _record(self, scope: Scope, status: int, elapsed: float, error: BaseException | None) -> None:
        route = route_template(scope)
        self.metrics.http_requests.labels(method=scope["method"], route=route, status=str(status)).inc()
        self.metrics.http_duration.labels(route=route, status=str(status)).observe(elapsed)
        fields: dict[str, Any] = {"method": scope["method"], "path": scope["path"], "route": route,
                                  "status": status, "duration_ms": round(elapsed * 1000, 1)}
        message = f"{scope['method']} {scope['path']} -> {status}"
        reason = scope.get(UNAVAILABLE_REASON_KEY)
        if reason:
            fields["reason"] = reason
            message += f" service unavailable ({reason})"
        if error is not None:
            log.error(message, exc_info=error, extra={FIELDS_ATTR: fields})
        elif status >= 500:
            log.error(message, extra={FIELDS_ATTR: fields})
        else:
            log.info(message, extra={FIELDS_ATTR: fields})
