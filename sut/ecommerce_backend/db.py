"""PostgreSQL access: a lazily created asyncpg pool, recreated after failures, every call time-bounded.

Nothing here blocks start-up: the pool is created on first use and thrown away (terminated, not
closed gracefully) when PostgreSQL refuses or resets connections; a connection whose call timed out
is terminated, so a SIGSTOPped server never holds a request longer than its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from .errors import DatabaseUnavailable, describe_error
from .logging_setup import get_logger
from .settings import Settings

T = TypeVar("T")
Operation = Callable[[asyncpg.Connection], Awaitable[T]]

log = get_logger("db")

# Errors that mean "the database cannot serve us" (503), as opposed to a bug or a bad request.
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
# Of those, the ones after which the pool's connections cannot be trusted any more. A timeout is not
# one of them: it may only mean a saturated pool; the connection that hung is terminated on its own
# (and the readiness monitor discards the whole pool when PostgreSQL is found down).
BROKEN_POOL_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)

POOL_MAX_SIZE = 10


class Database:
    """Owns the asyncpg pool; ``run`` executes one operation on a pooled connection within a timeout."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self.where = f"{settings.DB_HOST}:{settings.DB_PORT}"
        # Set by the readiness monitor once the schema is applied; cleared while PostgreSQL is down.
        self.schema_ready = False

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for asyncpg.connect / create_pool."""
        s = self._settings
        return {
            "host": s.DB_HOST,
            "port": s.DB_PORT,
            "user": s.DB_USER,
            "password": s.DB_PASSWORD.get_secret_value() or None,
            "database": s.DB_NAME,
            "timeout": s.DB_TIMEOUT_SECONDS,  # connect timeout
            "server_settings": {"application_name": f"ecommerce-backend/{s.POD_NAME}"},
        }

    async def connect(self) -> asyncpg.Connection:
        """A standalone connection (used by the readiness probe), bounded by DB_TIMEOUT_SECONDS."""
        async with asyncio.timeout(self._settings.DB_TIMEOUT_SECONDS):
            return await asyncpg.connect(**self.connect_kwargs())

    async def _get_pool(self) -> asyncpg.Pool:
        pool = self._pool
        if pool is not None:
            return pool
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    min_size=1, max_size=POOL_MAX_SIZE, max_inactive_connection_lifetime=60.0,
                    command_timeout=None, **self.connect_kwargs())
            return self._pool

    def discard_pool(self, pool: asyncpg.Pool | None = None) -> None:
        """Terminate the pool (all its connections at once); the next call creates a new one."""
        current = self._pool
        if current is None or (pool is not None and pool is not current):
            return
        self._pool = None
        current.terminate()

    async def run(self, operation: Operation[T], timeout: float | None = None) -> T:
        """Run ``operation(conn)`` on a pooled connection; the whole call is bounded by ``timeout``.

        Raises DatabaseUnavailable when PostgreSQL refuses, hangs or is not ready; other database
        errors propagate unchanged.
        """
        budget = self._settings.DB_TIMEOUT_SECONDS if timeout is None else timeout
        pool: asyncpg.Pool | None = None
        conn: Any = None
        try:
            async with asyncio.timeout(budget):
                pool = await self._get_pool()
                conn = await pool.acquire()
                result = await operation(conn)
                held, conn = conn, None
                await pool.release(held)
                return result
        except BaseException as exc:
            if conn is not None:
                # Never wait for a hanging server to reset the connection: drop it.
                conn.terminate()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pool.release(conn), 0.5)  # type: ignore[union-attr]
            if isinstance(exc, BROKEN_POOL_ERRORS):
                self.discard_pool(pool)
            if isinstance(exc, UNAVAILABLE_ERRORS):
                raise DatabaseUnavailable(describe_error(exc, self.where, budget)) from exc
            raise

    async def close(self, timeout: float = 1.0) -> None:
        """Close the pool gracefully within ``timeout`` seconds, else terminate it."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout)
        except (TimeoutError, Exception):
            pool.terminate()
