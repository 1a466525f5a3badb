"""The catalogue: PostgreSQL with bounded retries, written through to Redis, served from Redis as fallback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from . import repository
from .cache import RedisCache
from .db import Database
from .errors import CacheUnavailable, DatabaseUnavailable, ServiceUnavailable
from .logging_setup import get_logger
from .settings import Settings

T = TypeVar("T")
log = get_logger("catalogue")

SOURCE_DATABASE = "database"
SOURCE_CACHE = "cache"
MAX_ATTEMPTS = 3
MIN_ATTEMPT_SECONDS = 0.05


class CatalogueService:
    """Reads products; never takes longer than about DB_TIMEOUT_SECONDS plus one cache lookup."""

    def __init__(self, settings: Settings, db: Database, cache: RedisCache) -> None:
        self._settings = settings
        self._db = db
        self._cache = cache
        self._background: set[asyncio.Task[None]] = set()

    async def _read(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run a read with exponential-backoff retries, all within DB_TIMEOUT_SECONDS."""
        budget = self._settings.DB_TIMEOUT_SECONDS
        deadline = time.monotonic() + budget
        retrying = AsyncRetrying(
            stop=stop_after_attempt(MAX_ATTEMPTS) | stop_after_delay(budget),
            wait=wait_exponential(multiplier=0.05, min=0.05, max=0.5),
            retry=retry_if_exception_type(DatabaseUnavailable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                remaining = deadline - time.monotonic()
                if remaining < MIN_ATTEMPT_SECONDS:
                    raise DatabaseUnavailable(f"no time left to retry within {budget:g}s ({self._db.where})")
                return await self._db.run(operation, timeout=remaining)
        raise AssertionError("unreachable")  # pragma: no cover

    def _write_through(self, write: Callable[[], Awaitable[None]]) -> None:
        """Refresh the cache in the background (skipped while Redis' breaker is open)."""
        if not self._cache.available:
            return

        async def run() -> None:
            try:
                await write()
            except CacheUnavailable as exc:
                log.debug("cache write skipped: %s", exc)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _cached(self, read: Callable[[], Awaitable[T]]) -> tuple[T | None, str | None]:
        """A cache read for the fallback path: (value, None) or (None, why it failed)."""
        try:
            return await read(), None
        except CacheUnavailable as exc:
            return None, str(exc)

    async def list_products(self) -> tuple[list[dict[str, Any]], str]:
        """All products and where they came from (``database`` or ``cache``)."""
        try:
            products = await self._read(repository.list_products)
        except DatabaseUnavailable as db_exc:
            cached, cache_error = await self._cached(self._cache.get_catalogue)
            if cached is not None:
                return cached, SOURCE_CACHE
            raise ServiceUnavailable(f"{db_exc}; cache: {cache_error or 'catalogue not cached'}") from db_exc
        self._write_through(lambda: self._cache.put_catalogue(products))
        return products, SOURCE_DATABASE

    async def get_product(self, product_id: int) -> tuple[dict[str, Any] | None, str]:
        """One product (None when unknown) and where the answer came from."""
        try:
            product = await self._read(lambda conn: repository.get_product(conn, product_id))
        except DatabaseUnavailable as db_exc:
            cached, cache_error = await self._cached(lambda: self._cache.get_product(product_id))
            if cached is not None:
                return cached, SOURCE_CACHE
            raise ServiceUnavailable(
                f"{db_exc}; cache: {cache_error or f'product {product_id} not cached'}") from db_exc
        if product is not None:
            self._write_through(lambda: self._cache.put_product(product))
        return product, SOURCE_DATABASE
