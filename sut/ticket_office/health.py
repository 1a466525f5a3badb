"""Readiness: PostgreSQL and Redis are checked in the background; the probe only reads the results.

Both dependencies are critical here (no grace period, no degraded mode): the replica is ready only
while its last check of each passed. Each dependency has its own loop (check bounded by its own
timeout, then wait ``[server] readiness_interval_ms``), so a hung PostgreSQL never delays the Redis
verdict, and ``/_status/ready`` answers at once whatever hangs.

The PostgreSQL check also proves the schema is there (``to_regclass``): replicas started before the
migrate command are not ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from .database import Database
from .errors import Unavailable, describe_error
from .logs import get_logger
from .metrics import Metrics
from .sessions import Sessions

log = get_logger("readiness")


class SchemaMissing(Exception):
    """PostgreSQL answers but the tables are not there."""


@dataclass
class CheckState:
    """The last result of one dependency's check."""

    where: str
    ok: bool = False
    error: str | None = "not checked yet"
    since: float = field(default_factory=time.time)
    checked: bool = False

    def to_dict(self) -> dict[str, Any]:
        """As served under ``checks`` by the readiness probe."""
        return {"ok": self.ok, "error": self.error, "since": round(self.since, 3), "target": self.where}


class Readiness:
    """Background checks of both dependencies and the verdict the probe serves."""

    def __init__(self, db: Database, sessions: Sessions, metrics: Metrics, interval_s: float) -> None:
        self._db = db
        self._sessions = sessions
        self._metrics = metrics
        self._interval_s = interval_s
        self.checks = {"postgres": CheckState(db.where), "redis": CheckState(sessions.where)}
        self._conn: asyncpg.Connection | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._was_ready: bool | None = None

    async def _check_postgres(self) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self._db.connect()
        async with asyncio.timeout(self._db.timeout_s):
            present = await self._conn.fetchval("SELECT to_regclass('tickets') IS NOT NULL")
        if not present:
            raise SchemaMissing(f"schema missing, run the migrate command ({self._db.where})")

    def _drop_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def _check_redis(self) -> None:
        await self._sessions.ping()

    def start(self) -> None:
        """One loop per dependency."""
        plans: list[tuple[str, Callable[[], Awaitable[None]], float]] = [
            ("postgres", self._check_postgres, self._db.timeout_s * 2),  # connect, then the query
            ("redis", self._check_redis, self._sessions.timeout_s),
        ]
        for name, check, timeout_s in plans:
            self._tasks.append(asyncio.create_task(self._loop(name, check, timeout_s), name=f"readiness-{name}"))

    async def stop(self) -> None:
        """Stop the loops and drop the check connection."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._drop_conn()

    async def _loop(self, name: str, check: Callable[[], Awaitable[None]], timeout_s: float) -> None:
        while not self._stop.is_set():
            try:
                async with asyncio.timeout(timeout_s):
                    await check()
            except Exception as exc:
                if name == "postgres" and not isinstance(exc, SchemaMissing):
                    self._drop_conn()
                if isinstance(exc, SchemaMissing):
                    error = str(exc)
                elif isinstance(exc, Unavailable):
                    error = exc.reason
                else:
                    error = describe_error(exc, self.checks[name].where, self._db.timeout_s
                                           if name == "postgres" else timeout_s)
                self._record(name, False, error)
            else:
                self._record(name, True, None)
            self.verdict()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval_s)

    def _record(self, name: str, ok: bool, error: str | None) -> None:
        state = self.checks[name]
        self._metrics.dependency_up.labels(dependency=name).set(1 if ok else 0)
        changed = ok != state.ok or not state.checked
        if ok and changed:
            log.info("%s: up (%s)", name, state.where)
        elif not ok and (changed or error != state.error):
            log.error("%s: %s", name, error)
            if name == "postgres" and state.ok:
                self._db.discard_pool()  # its connections died with the server, or hang with it
        if changed:
            state.since = time.time()
        state.ok, state.error, state.checked = ok, error, True

    def verdict(self) -> tuple[bool, dict[str, Any]]:
        """Ready or not, and the probe's body; logs each change once. No I/O."""
        ready = all(state.ok for state in self.checks.values())
        self._metrics.app_ready.set(1 if ready else 0)
        failing = {name: state.error for name, state in self.checks.items() if not state.ok}
        # Before both were checked once, "not ready" is the start, not a change worth a log line.
        if ready != self._was_ready and all(state.checked for state in self.checks.values()):
            if ready:
                log.info("readiness: ready")
            else:
                log.error("readiness: not ready, /_status/ready answers 503 (%s)",
                          "; ".join(f"{name}: {error}" for name, error in failing.items()))
            self._was_ready = ready
        body: dict[str, Any] = {"ready": ready, "checks": {name: s.to_dict() for name, s in self.checks.items()}}
        if failing:
            body["failing"] = sorted(failing)
        return ready, body
