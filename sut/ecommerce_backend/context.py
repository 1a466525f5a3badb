"""The per-process application context: every component, reachable from a request."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from .cache import RedisCache
from .catalogue import CatalogueService
from .db import Database
from .events import EventPublisher
from .metrics import Metrics
from .orders import OrderService
from .outbox import OutboxRelay
from .readiness import ReadinessMonitor
from .settings import Settings


@dataclass
class AppContext:
    """Components of one running replica."""

    settings: Settings
    metrics: Metrics
    db: Database
    cache: RedisCache
    publisher: EventPublisher
    relay: OutboxRelay
    readiness: ReadinessMonitor
    catalogue: CatalogueService
    orders: OrderService


def build_context(settings: Settings) -> AppContext:
    """Wire the components together (no I/O happens here)."""
    metrics = Metrics(settings.APP_VERSION, settings.POD_NAME)
    db = Database(settings)
    cache = RedisCache(settings)
    publisher = EventPublisher(settings)
    relay = OutboxRelay(settings, db, publisher, metrics)
    readiness = ReadinessMonitor(settings, db, cache, publisher, metrics, on_kafka_recovered=relay.flush)
    return AppContext(
        settings=settings, metrics=metrics, db=db, cache=cache, publisher=publisher, relay=relay,
        readiness=readiness, catalogue=CatalogueService(settings, db, cache),
        orders=OrderService(settings, db, cache, relay),
    )


def get_ctx(request: Request) -> AppContext:
    """FastAPI dependency: the application context."""
    return request.app.state.ctx
