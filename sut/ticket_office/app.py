"""The Starlette application: routes, error answers, the request observer, and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable

from starlette.applications import Starlette
from starlette.middleware import Middleware

from . import SERVICE_NAME
from .api import EXCEPTION_HANDLERS, Services, routes
from .config import Config
from .database import Database
from .health import Readiness
from .logs import get_logger
from .metrics import Metrics, RequestObserver
from .sessions import Sessions
from .store import Store

log = get_logger("app")

SHUTDOWN_STEP_SECONDS = 1.0


async def _bounded(step: Awaitable[None], what: str) -> None:
    """One shutdown step, abandoned after SHUTDOWN_STEP_SECONDS."""
    try:
        await asyncio.wait_for(step, SHUTDOWN_STEP_SECONDS)
    except Exception as exc:
        log.warning("shutdown: %s did not finish cleanly: %r", what, exc)


def create_app(config: Config) -> Starlette:
    """The application for this configuration. Nothing connects before start-up, nothing blocks it."""
    metrics = Metrics(config.release.version, config.server.instance)
    db = Database(config.database, f"{SERVICE_NAME}/{config.server.instance}")
    sessions = Sessions(config.redis)
    readiness = Readiness(db, sessions, metrics, config.server.readiness_interval_ms / 1000)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        release = config.release
        log.info("%s %s starting on %s:%d (postgres %s, redis %s%s%s)", SERVICE_NAME, release.version,
                 config.server.host, config.server.port, db.where, sessions.where,
                 ", known-bad release: every API request fails" if release.is_bad else "",
                 f", extra latency {release.extra_latency_ms} ms" if release.extra_latency_ms else "")
        readiness.start()
        try:
            yield
        finally:
            log.info("%s %s shutting down", SERVICE_NAME, release.version)
            await _bounded(readiness.stop(), "readiness checks")
            await _bounded(sessions.close(), "redis client")
            await _bounded(db.close(), "postgres pool")

    app = Starlette(routes=routes(config), lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
                    middleware=[Middleware(RequestObserver, metrics=metrics)])
    app.state.services = Services(config=config, store=Store(db), sessions=sessions, readiness=readiness,
                                  metrics=metrics, started_at=time.time())
    return app
