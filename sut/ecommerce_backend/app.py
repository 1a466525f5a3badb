"""The FastAPI application: routes, exception handlers, middleware, and the background tasks' lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from . import SERVICE_NAME
from .broken import crash_later
from .context import build_context
from .errors import ServiceUnavailable
from .logging_setup import get_logger
from .metrics import UNAVAILABLE_REASON_KEY, HTTPMetricsMiddleware
from .routes import cart, health, orders, products
from .routes import metrics as metrics_route
from .settings import Settings

log = get_logger()

SHUTDOWN_STEP_SECONDS = 1.0


async def _bounded(coro: object, what: str) -> None:
    """Await one shutdown step, giving up after SHUTDOWN_STEP_SECONDS."""
    try:
        await asyncio.wait_for(coro, SHUTDOWN_STEP_SECONDS)  # type: ignore[arg-type]
    except Exception as exc:
        log.warning("shutdown: %s did not finish cleanly: %r", what, exc)


def create_app(settings: Settings) -> FastAPI:
    """Build the application for these settings (nothing connects before start-up, nothing blocks it)."""
    ctx = build_context(settings)
    first_api_request = asyncio.Event()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        s = settings
        log.info("%s %s starting on %s:%d (postgres %s/%s, redis %s, kafka %s, topic %s)",
                 SERVICE_NAME, s.APP_VERSION, s.HTTP_HOST, s.HTTP_PORT, ctx.db.where, s.DB_NAME,
                 ctx.cache.where, s.KAFKA_BOOTSTRAP, s.ORDER_TOPIC)
        ctx.readiness.start()
        ctx.relay.start()
        background = {asyncio.create_task(ctx.publisher.prepare(), name="kafka-prepare")}
        if s.is_broken_release:
            background.add(asyncio.create_task(crash_later(s, stop, first_api_request), name="broken-release"))
        try:
            yield
        finally:
            log.info("%s %s shutting down", SERVICE_NAME, s.APP_VERSION)
            stop.set()
            for task in background:
                task.cancel()
            await _bounded(ctx.readiness.stop(), "readiness checks")
            await _bounded(ctx.relay.stop(), "outbox relay")
            await _bounded(ctx.publisher.close(), "kafka producer")
            await _bounded(ctx.cache.close(), "redis client")
            await _bounded(ctx.db.close(), "postgres pool")
            log.info("%s %s stopped", SERVICE_NAME, s.APP_VERSION)

    app = FastAPI(title=SERVICE_NAME, version=settings.APP_VERSION, lifespan=lifespan)
    app.state.ctx = ctx
    register_handlers(app)
    app.add_middleware(HTTPMetricsMiddleware, metrics=ctx.metrics)
    if settings.is_broken_release:

        @app.middleware("http")
        async def broken_release_trigger(request: Request, call_next):  # type: ignore[no-untyped-def]
            if request.url.path.startswith("/api/"):
                first_api_request.set()
            return await call_next(request)
    if settings.is_slow_release:
        delay = settings.SLOW_RELEASE_DELAY_MS / 1000

        @app.middleware("http")
        async def slow_release_delay(request: Request, call_next):  # type: ignore[no-untyped-def]
            if request.url.path.startswith("/api/"):
                await asyncio.sleep(delay)  # the release's regression: correct answers, later
            return await call_next(request)
    for module in (health, products, cart, orders, metrics_route):
        app.include_router(module.router)
    return app


def register_handlers(app: FastAPI) -> None:
    """503 ``service unavailable`` for requests that no dependency can serve."""

    @app.exception_handler(ServiceUnavailable)
    async def service_unavailable(request: Request, exc: ServiceUnavailable) -> JSONResponse:
        request.scope[UNAVAILABLE_REASON_KEY] = exc.reason
        return JSONResponse({"detail": "service unavailable"}, status_code=503, headers={"Retry-After": "1"})
