"""PostgreSQL: an asyncpg pool created lazily, every call bounded by ``[database] timeout_ms``.

Nothing here blocks start-up (the pool opens no connection until a request needs one). A connection
whose call timed out is terminated, never reset, so a frozen server holds a request only for the
timeout; after a refused or broken connection the whole pool is thrown away and made anew.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from .config import DatabaseConfig
from .errors import Unavailable, describe_error

T = TypeVar("T")
Operation = Callable[[asyncpg.Connection], Awaitable[T]]

POOL_MAX_SIZE = 10

# "PostgreSQL cannot serve us" (503), as opposed to a bug (500).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.UndefinedTableError,
)
# Of those, the ones after which no pooled connection can be trusted.
BROKEN_POOL_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)


class Database:
    """Owns the pool; ``run`` executes one operation on a pooled connection within the timeout."""

    def __init__(self, config: DatabaseConfig, application_name: str) -> None:
        self._config = config
        self._application_name = application_name
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self.where = config.where
        self.timeout_s = config.timeout_ms / 1000

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            **self._config.connect_kwargs(),
            "timeout": self.timeout_s,
            "server_settings": {"application_name": self._application_name[:63]},
        }

    async def connect(self) -> asyncpg.Connection:
        """A connection of its own (the readiness check's), bounded by the timeout."""
        async with asyncio.timeout(self.timeout_s):
            return await asyncpg.connect(**self._connect_kwargs())

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(min_size=0, max_size=POOL_MAX_SIZE,
                                                       max_inactive_connection_lifetime=60.0,
                                                       **self._connect_kwargs())
            return self._pool

    def discard_pool(self) -> None:
        """Terminate the pool and all its connections at once; the next call makes a new one."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()

    async def run(self, operation: Operation[T]) -> T:
        """``operation(conn)`` on a pooled connection, the whole call bounded by the timeout.

        Raises Unavailable when PostgreSQL refuses, hangs or has no schema; other errors propagate.
        """
        pool: asyncpg.Pool | None = None
        conn: Any = None
        try:
            async with asyncio.timeout(self.timeout_s):
                pool = await self._get_pool()
                conn = await pool.acquire()
                result = await operation(conn)
                held, conn = conn, None
                await pool.release(held)
                return result
        except BaseException as exc:
            if conn is not None and pool is not None:
                conn.terminate()  # never wait for a hung server to reset it
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pool.release(conn), 0.2)
            if isinstance(exc, BROKEN_POOL_ERRORS) and pool is self._pool:
                self.discard_pool()
            if isinstance(exc, asyncpg.exceptions.UndefinedTableError):
                raise Unavailable("postgres", f"schema missing, run the migrate command ({self.where})") from exc
            if isinstance(exc, UNAVAILABLE_ERRORS):
                raise Unavailable("postgres", describe_error(exc, self.where, self.timeout_s)) from exc
            raise

    async def close(self, timeout_s: float = 1.0) -> None:
        """Close the pool gracefully within ``timeout_s``, else terminate it."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout_s)
        except Exception:
            pool.terminate()
