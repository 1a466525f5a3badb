"""Session tokens in Redis: the only place a login lives, so Redis is critical (no Redis, no auth).

A token is random (``secrets``); Redis holds only its SHA-256, mapped to the user, with a TTL. Every
call is bounded by ``[redis] timeout_ms``, connecting included, and retried once at most (a pooled
connection that died with a Redis restart), within that same bound.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .config import RedisConfig
from .errors import Unavailable, describe_error

T = TypeVar("T")

KEY_PREFIX = "ticket-office:session:"
MAX_CONNECTIONS = 100


def _key(token: str) -> str:
    return KEY_PREFIX + hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Creates and resolves bearer tokens."""

    def __init__(self, config: RedisConfig) -> None:
        self.where = config.where
        self.timeout_s = config.timeout_ms / 1000
        self.ttl_seconds = config.session_ttl_seconds
        # A blocking pool: a burst beyond MAX_CONNECTIONS waits for a free connection (within the timeout)
        # instead of failing at once with "Too many connections".
        pool = BlockingConnectionPool.from_url(
            config.url.get_secret_value(), max_connections=MAX_CONNECTIONS, timeout=self.timeout_s,
            socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s, retry=Retry(NoBackoff(), 1),
            decode_responses=True)
        self._redis = Redis(connection_pool=pool)

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await call()
        except (RedisError, OSError, TimeoutError) as exc:
            raise Unavailable("redis", f"{what}: {describe_error(exc, self.where, self.timeout_s)}") from exc

    async def create(self, user: str) -> str:
        """A new token for ``user``, valid for the configured TTL."""
        token = secrets.token_urlsafe(32)
        await self._call("create session", lambda: self._redis.set(_key(token), user, ex=self.ttl_seconds))
        return token

    async def user_of(self, token: str) -> str | None:
        """The user a token belongs to, or None if unknown or expired."""
        return await self._call("check session", lambda: self._redis.get(_key(token)))

    async def ping(self) -> None:
        """The readiness check: PING within the timeout."""
        await self._call("ping", self._redis.ping)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._redis.aclose(close_connection_pool=True)
