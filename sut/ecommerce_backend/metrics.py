"""Prometheus metrics on a dedicated registry, and the ASGI middleware that records HTTP metrics.

The middleware labels requests by route template (``/api/products/{product_id}``), never by raw
path, and logs every request answered 503 with the runbook's ``service unavailable`` pattern.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logging_setup import get_logger

log = get_logger("http")

UNMATCHED_ROUTE = "<unmatched>"
UNAVAILABLE_REASON_KEY = "ecommerce.unavailable_reason"


class Metrics:
    """All metrics of the service."""

    def __init__(self, version: str, pod: str) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.http_requests = Counter("http_requests_total", "HTTP requests by method, route and status",
                                     ["method", "route", "status"], registry=r)
        self.http_duration = Histogram(
            "http_request_duration_seconds", "HTTP request duration by route template and status", ["route", "status"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0))
        self.dependency_up = Gauge("dependency_up", "1 if the dependency answered its last readiness check",
                                   ["dependency"], registry=r)
        self.circuit_breaker_open = Gauge("circuit_breaker_open", "1 while the circuit breaker is open",
                                          ["dependency"], registry=r)
        self.outbox_pending = Gauge("outbox_pending", "Events in the outbox not yet published to Kafka",
                                    registry=r)
        self.events_published = Counter("outbox_events_published_total", "Events published from the outbox",
                                         registry=r)
        self.app_ready = Gauge("app_ready", "1 while /readyz answers 200", registry=r)
        self.app_info = Info("app", "Version and pod of this replica", registry=r)
        self.app_info.info({"version": version, "pod": pod})
        for dependency in ("postgres", "redis", "kafka"):
            self.dependency_up.labels(dependency=dependency).set(0)
        for dependency in ("redis", "kafka"):
            self.circuit_breaker_open.labels(dependency=dependency).set(0)
        self.app_ready.set(0)


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``<unmatched>``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class HTTPMetricsMiddleware:
    """Pure ASGI middleware: counts and times requests, logs every 503."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Record the request's status and duration once the response has started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            status = int(status_holder["status"])
            route = route_template(scope)
            elapsed = time.perf_counter() - started
            self.metrics.http_requests.labels(method=scope["method"], route=route, status=str(status)).inc()
            self.metrics.http_duration.labels(route=route, status=str(status)).observe(elapsed)
            if status == 503:
                reason = scope.get(UNAVAILABLE_REASON_KEY) or "dependency failure"
                log.error("%s %s -> 503 service unavailable (%s) in %.0f ms",
                          scope["method"], scope["path"], reason, elapsed * 1000)
