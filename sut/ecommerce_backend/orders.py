"""Placing and reading orders: one PostgreSQL transaction for order + outbox, then an immediate relay pass."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from . import repository
from .cache import RedisCache
from .db import Database
from .errors import CacheUnavailable, DatabaseUnavailable, ServiceUnavailable
from .logging_setup import get_logger
from .models import OrderRequest, merge_items
from .outbox import OutboxRelay
from .settings import Settings

log = get_logger("orders")


class InvalidOrder(Exception):
    """The order cannot be accepted as asked (unknown products, empty cart)."""


class OrderService:
    """Accepts orders while Kafka is down: events wait in the outbox until the relay delivers them."""

    def __init__(self, settings: Settings, db: Database, cache: RedisCache, relay: OutboxRelay) -> None:
        self._settings = settings
        self._db = db
        self._cache = cache
        self._relay = relay
        self._background: set[asyncio.Task[Any]] = set()

    async def _items(self, request: OrderRequest) -> dict[int, int]:
        if request.items is not None:
            return merge_items(request.items)
        assert request.cart_id is not None
        try:
            cart = await self._cache.get_cart(request.cart_id)
        except CacheUnavailable as exc:
            raise ServiceUnavailable(f"cart {request.cart_id}: {exc}") from exc
        if not cart:
            raise InvalidOrder(f"cart {request.cart_id} is empty")
        return cart

    async def place(self, request: OrderRequest) -> dict[str, Any]:
        """Create the order and its event atomically; then try to publish at once (bounded)."""
        items = await self._items(request)
        customer, topic = request.customer, self._settings.ORDER_TOPIC
        try:
            order = await self._db.run(lambda conn: repository.create_order(conn, customer, items, topic))
        except DatabaseUnavailable as exc:
            raise ServiceUnavailable(str(exc)) from exc
        except repository.UnknownProducts as exc:
            raise InvalidOrder(str(exc)) from exc
        log.debug("order %s accepted for %s, total %.2f", order["id"], request.customer, order["total"])
        # Publish now rather than at the next relay interval; the order is accepted either way.
        # (a pass that outlives the wait keeps running in the background).
        await asyncio.wait({self._spawn(self._relay.flush())}, timeout=self._settings.ORDER_PUBLISH_WAIT_SECONDS)
        if request.cart_id is not None:
            self._spawn(self._clear_cart(request.cart_id))
        return {"id": order["id"], "status": "accepted", "total": order["total"]}

    async def _clear_cart(self, cart_id: str) -> None:
        with contextlib.suppress(CacheUnavailable):
            await self._cache.delete_cart(cart_id)

    def _spawn(self, coro: Any) -> asyncio.Future[Any]:
        """Run a coroutine as a task that is kept referenced until it ends."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def get(self, order_id: int) -> dict[str, Any] | None:
        """The order with ``event_published``, or None when unknown."""
        try:
            return await self._db.run(lambda conn: repository.get_order(conn, order_id))
        except DatabaseUnavailable as exc:
            raise ServiceUnavailable(str(exc)) from exc
