"""Redis: the catalogue cache (fallback when PostgreSQL fails) and the carts (one hash per cart).

Every call goes through the ``redis`` circuit breaker and is bounded by REDIS_TIMEOUT_SECONDS
(socket timeouts plus an asyncio deadline), so a dead or hanging Redis answers fast.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .breakers import CircuitBreakerError, call_guarded, is_open, make_breaker
from .errors import CacheUnavailable, describe_error
from .settings import Settings

T = TypeVar("T")

CATALOGUE_KEY = "catalogue:products"
PRODUCT_KEY = "catalogue:product:{id}"
CART_KEY = "cart:{cart_id}"
CART_TTL_SECONDS = 7 * 24 * 3600


class RedisCache:
    """Catalogue cache and cart store on one Redis client, guarded by a circuit breaker."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._timeout = settings.REDIS_TIMEOUT_SECONDS
        self.where = f"{settings.REDIS_HOST}:{settings.REDIS_PORT}"
        self.client = aioredis.Redis(
            host=settings.REDIS_HOST, port=settings.REDIS_PORT,
            socket_timeout=self._timeout, socket_connect_timeout=self._timeout,
            # immediate retries on a new connection: after Redis restarts, every pooled connection is dead, and
            # without them each one fails a request once (enough to trip the breaker again); a connection reset
            # mid-way (a flaky network) is absorbed the same way. Timeouts are not retried: the breaker's business
            retry=Retry(NoBackoff(), settings.redis_retries),
            retry_on_error=[redis.exceptions.ConnectionError],
            retry_on_timeout=False,
            health_check_interval=0,
            decode_responses=True,
        )
        self.breaker = make_breaker("redis", failure_threshold=3, recovery_timeout=5.0)
        self._guarded = settings.breaker_enabled  # a -no-breaker release waits out every timeout

    @property
    def available(self) -> bool:
        """False while the breaker is open (calls would fail at once)."""
        return not (self._guarded and is_open(self.breaker))

    async def _call(self, func: Callable[[], Awaitable[T]]) -> T:
        """One Redis operation through the breaker, within REDIS_TIMEOUT_SECONDS."""

        async def bounded() -> T:
            async with asyncio.timeout(self._timeout):
                return await func()

        try:
            return await (call_guarded(self.breaker, bounded) if self._guarded else bounded())
        except CircuitBreakerError as exc:
            raise CacheUnavailable("circuit breaker open") from exc
        except Exception as exc:
            raise CacheUnavailable(describe_error(exc, self.where, self._timeout)) from exc

    async def ping(self) -> None:
        """PING without the breaker (the readiness probe measures Redis itself).

        A successful PING is the breaker's half-open trial: Redis is back, so calls go through again at once
        instead of failing for the rest of the breaker's recovery timeout.
        """
        async with asyncio.timeout(self._timeout):
            await self.client.ping()
        if not self.breaker.closed:
            self.breaker.reset()

    # --- catalogue cache -------------------------------------------------------------------------

    async def put_catalogue(self, products: list[dict[str, Any]]) -> None:
        """Cache the whole catalogue and each product, with TTL CACHE_TTL_SECONDS."""
        ttl = self._settings.CACHE_TTL_SECONDS

        async def op() -> None:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.set(CATALOGUE_KEY, json.dumps(products), ex=ttl)
                for product in products:
                    pipe.set(PRODUCT_KEY.format(id=product["id"]), json.dumps(product), ex=ttl)
                await pipe.execute()

        await self._call(op)

    async def put_product(self, product: dict[str, Any]) -> None:
        """Cache one product with TTL CACHE_TTL_SECONDS."""
        key, ttl = PRODUCT_KEY.format(id=product["id"]), self._settings.CACHE_TTL_SECONDS
        await self._call(lambda: self.client.set(key, json.dumps(product), ex=ttl))

    async def get_catalogue(self) -> list[dict[str, Any]] | None:
        """The cached catalogue, or None on a cache miss."""
        raw = await self._call(lambda: self.client.get(CATALOGUE_KEY))
        return None if raw is None else json.loads(raw)

    async def get_product(self, product_id: int) -> dict[str, Any] | None:
        """A cached product (from its own key, else from the cached catalogue), or None on a miss."""
        raw = await self._call(lambda: self.client.get(PRODUCT_KEY.format(id=product_id)))
        if raw is not None:
            return json.loads(raw)
        catalogue = await self.get_catalogue()
        for product in catalogue or []:
            if product.get("id") == product_id:
                return product
        return None

    # --- carts -------------------------------------------------------------------------------------

    async def get_cart(self, cart_id: str) -> dict[int, int]:
        """The cart as {product_id: quantity} (empty when it does not exist)."""
        raw = await self._call(lambda: self.client.hgetall(CART_KEY.format(cart_id=cart_id)))
        return {int(pid): int(qty) for pid, qty in raw.items()}

    async def add_to_cart(self, cart_id: str, product_id: int, quantity: int) -> dict[int, int]:
        """Add ``quantity`` of a product to the cart; returns the whole cart."""
        key = CART_KEY.format(cart_id=cart_id)

        async def op() -> dict[str, str]:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, str(product_id), quantity)
                pipe.expire(key, CART_TTL_SECONDS)
                pipe.hgetall(key)
                results = await pipe.execute()
            return results[-1]

        raw = await self._call(op)
        return {int(pid): int(qty) for pid, qty in raw.items()}

    async def delete_cart(self, cart_id: str) -> bool:
        """Delete the cart; True if it existed."""
        return bool(await self._call(lambda: self.client.delete(CART_KEY.format(cart_id=cart_id))))

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()
