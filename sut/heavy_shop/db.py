"""PostgreSQL from synchronous code: one asyncpg connection driven by a private event loop.

A synchronous worker serves one request at a time, so one connection is all it needs (as Django keeps one per
thread). Every call is bounded by the timeout; after any failure the connection is dropped and the next call
opens a new one, so PostgreSQL coming back needs no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from .config import Config

UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Unavailable(Exception):
    """PostgreSQL or Redis cannot serve: the page is a 503."""


class Database:
    """``fetch``/``execute`` on one lazily opened connection, each within ``db_timeout_s``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection | None = None

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, self.config.db_timeout_s))

    def _connection(self) -> asyncpg.Connection:
        if self.conn is None or self.conn.is_closed():
            c = self.config
            self.conn = self._run(asyncpg.connect(host=c.db_host, port=c.db_port, database=c.db_name,
                                                  user=c.db_user, password=c.db_password or None,
                                                  server_settings={"application_name": c.instance}))
        return self.conn

    def call(self, method: str, query: str, *args: Any) -> Any:
        """Run ``conn.<method>(query, *args)``; Unavailable when PostgreSQL does not answer in time."""
        try:
            conn = self._connection()
            return self._run(getattr(conn, method)(query, *args))
        except UNAVAILABLE as exc:
            self.drop()
            raise Unavailable(f"postgres: {type(exc).__name__}: {exc}") from exc

    def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return self.call("fetch", query, *args)

    def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return self.call("fetchrow", query, *args)

    def fetchval(self, query: str, *args: Any) -> Any:
        return self.call("fetchval", query, *args)

    def execute(self, query: str, *args: Any) -> str:
        return self.call("execute", query, *args)

    def drop(self) -> None:
        """Forget the connection (terminated, never awaited: a frozen server must not hold us)."""
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.terminate()
        self.conn = None
