"""Readiness: background checks of PostgreSQL, Redis and Kafka, and the policy /readyz serves.

Each dependency has its own loop (check with its own timeout, then wait READINESS_INTERVAL_SECONDS),
so a hanging PostgreSQL never delays the Redis or Kafka state. /readyz only reads the cached state.

Policy (the runbook's Prevention section):
- PostgreSQL down for less than POSTGRES_GRACE_SECONDS is absorbed (200, "degraded");
  down longer -> 503 "not ready" (the load balancer takes the replica out);
  never reached since start -> 503 "not ready".
- Redis or Kafka down -> 200 "degraded" naming them (carts / events degrade, the shop stays up).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from .cache import RedisCache
from .db import Database
from .errors import describe_error
from .events import EventPublisher
from .kafka_probe import check_brokers
from .logging_setup import get_logger
from .metrics import Metrics
from .schema import bootstrap_schema
from .settings import Settings

log = get_logger("readiness")

DEPENDENCIES = ("postgres", "redis", "kafka")

STATUS_READY = "ready"
STATUS_DEGRADED = "degraded"
STATUS_NOT_READY = "not ready"


@dataclass
class DependencyState:
    """Last known state of one dependency."""

    name: str
    where: str
    since: float = field(default_factory=time.time)
    up: bool = False
    error: str | None = "not checked yet"
    latency_ms: float | None = None
    ever_up: bool = False
    checks: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON object served under ``dependencies``."""
        return {"state": "up" if self.up else "down", "since": round(self.since, 3), "error": self.error,
                "latency_ms": self.latency_ms}


@dataclass(frozen=True)
class Verdict:
    """The readiness decision at one instant."""

    http_status: int
    status: str
    degraded: list[str]
    reason: str | None


class ReadinessMonitor:
    """Runs the dependency checks in the background and evaluates the readiness policy."""

    def __init__(self, settings: Settings, db: Database, cache: RedisCache, publisher: EventPublisher,
                 metrics: Metrics, on_kafka_recovered: Callable[[], Awaitable[None]] | None = None) -> None:
        self._settings = settings
        self._db = db
        self._cache = cache
        self._publisher = publisher
        self._metrics = metrics
        self._on_kafka_recovered = on_kafka_recovered
        self.states = {
            "postgres": DependencyState("postgres", db.where),
            "redis": DependencyState("redis", cache.where),
            "kafka": DependencyState("kafka", settings.KAFKA_BOOTSTRAP),
        }
        self._pg_conn: asyncpg.Connection | None = None
        self._schema_ready = False
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Future[None]] = set()
        self._last_status: str | None = None

    # --- checks ------------------------------------------------------------------------------------

    async def _check_postgres(self) -> None:
        """SELECT 1 on a dedicated connection; (re)apply the schema after start or an outage."""
        timeout = self._settings.DB_TIMEOUT_SECONDS
        if self._pg_conn is None or self._pg_conn.is_closed():
            self._pg_conn = await self._db.connect()
        async with asyncio.timeout(timeout):
            await self._pg_conn.fetchval("SELECT 1")
        if not self._schema_ready:
            async with asyncio.timeout(timeout * 2):  # may wait for another replica's advisory lock
                inserted = await bootstrap_schema(self._pg_conn)
            self._schema_ready = self._db.schema_ready = True
            log.info("postgres: schema ready (%d product(s) seeded)", inserted)

    def _drop_pg_conn(self) -> None:
        conn, self._pg_conn = self._pg_conn, None
        if conn is not None:
            conn.terminate()

    async def _check_redis(self) -> None:
        await self._cache.ping()

    async def _check_kafka(self) -> None:
        await check_brokers(self._settings.kafka_servers, self._settings.KAFKA_TIMEOUT_SECONDS)

    # --- loops -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start one check loop per dependency."""
        s = self._settings
        plans: list[tuple[str, Callable[[], Awaitable[None]], float]] = [
            # connect + SELECT 1 + schema, each bounded by its own timeout inside the check
            ("postgres", self._check_postgres, s.DB_TIMEOUT_SECONDS * 4),
            ("redis", self._check_redis, s.REDIS_TIMEOUT_SECONDS),
            ("kafka", self._check_kafka, s.KAFKA_TIMEOUT_SECONDS),
        ]
        for name, check, timeout in plans:
            task = asyncio.create_task(self._loop(name, check, timeout), name=f"readiness-{name}")
            self._tasks.append(task)

    def _background(self, coro: Awaitable[None]) -> None:
        """Run a coroutine in the background, keeping a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def stop(self) -> None:
        """Stop the loops and close the probe connection."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._drop_pg_conn()

    async def _loop(self, name: str, check: Callable[[], Awaitable[None]], timeout: float) -> None:
        interval = self._settings.READINESS_INTERVAL_SECONDS
        while not self._stop.is_set():
            started_wall = time.time()
            started = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):
                    await check()
            except Exception as exc:
                if name == "postgres":
                    self._drop_pg_conn()
                # The postgres check bounds each step (connect, SELECT 1) by DB_TIMEOUT_SECONDS.
                shown = self._settings.DB_TIMEOUT_SECONDS if name == "postgres" else timeout
                error = describe_error(exc, self.states[name].where, shown)
                await self._record_down(name, error, started_wall)
            else:
                await self._record_up(name, (time.perf_counter() - started) * 1000)
            self.evaluate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)

    async def _record_up(self, name: str, latency_ms: float) -> None:
        state = self.states[name]
        state.checks += 1
        state.latency_ms = round(latency_ms, 2)
        self._metrics.dependency_up.labels(dependency=name).set(1)
        if state.up:
            return
        first = not state.ever_up
        failed_before = state.checks > 1  # this is not the first check, so an earlier one failed
        down_for = time.time() - state.since
        state.up, state.ever_up, state.error, state.since = True, True, None, time.time()
        if first:
            log.info("%s: up (%s, %.1f ms)", name, state.where, latency_ms)
        else:
            log.info("%s: up again after %.1fs down (%s, %.1f ms)", name, down_for, state.where, latency_ms)
        if not failed_before:
            return
        # (Redis: every successful PING closes an open breaker, see RedisCache.ping.)
        if name == "kafka":
            # New producer, topic re-created: a memory-only broker forgets it on restart.
            await self._publisher.recover()
            if self._on_kafka_recovered is not None:
                self._background(self._on_kafka_recovered())

    async def _record_down(self, name: str, error: str, started_wall: float) -> None:
        state = self.states[name]
        state.checks += 1
        state.latency_ms = None
        self._metrics.dependency_up.labels(dependency=name).set(0)
        was_up = state.up
        previous, state.error = state.error, error
        if not was_up and state.checks > 1 and error != previous:
            # Same outage, new symptom (e.g. "closed by server" then "Connection refused"): log it once.
            log.error("%s: %s (down since %.1fs)", name, error, time.time() - state.since)
        if was_up or state.checks == 1:
            state.up = False
            state.since = started_wall if was_up else state.since
            log.error("%s: %s", name, error)
            if name == "postgres":
                self._schema_ready = self._db.schema_ready = False
                self._db.discard_pool()
            elif name == "kafka":
                self._publisher.mark_unreachable(error)

    # --- policy ------------------------------------------------------------------------------------

    def evaluate(self, now: float | None = None) -> Verdict:
        """Apply the readiness policy to the cached states (no I/O); log status changes once."""
        now = time.time() if now is None else now
        pg = self.states["postgres"]
        grace = self._settings.POSTGRES_GRACE_SECONDS
        degraded = [name for name in DEPENDENCIES if not self.states[name].up]
        reason: str | None = None
        if not pg.up and not pg.ever_up:
            status, http_status = STATUS_NOT_READY, 503
            reason = f"postgres never reached since start: {pg.error}"
        elif not pg.up and now - pg.since >= grace:
            status, http_status = STATUS_NOT_READY, 503
            reason = f"postgres down for {now - pg.since:.1f}s (grace {grace:g}s): {pg.error}"
        elif degraded:
            status, http_status = STATUS_DEGRADED, 200
            reason = "; ".join(f"{name} down: {self.states[name].error}" for name in degraded)
        else:
            status, http_status = STATUS_READY, 200
        self._metrics.app_ready.set(1 if http_status == 200 else 0)
        if status != self._last_status:
            message = f"readiness: {self._last_status or 'starting'} -> {status}"
            if reason:
                message += f" ({reason})"
            if http_status == 503:
                log.error("%s; /readyz answers 503 service unavailable", message)
            else:
                log.info(message)
            self._last_status = status
        return Verdict(http_status=http_status, status=status, degraded=degraded, reason=reason)

    def body(self, verdict: Verdict) -> dict[str, Any]:
        """The /readyz JSON body for a verdict."""
        body: dict[str, Any] = {
            "status": verdict.status,
            "version": self._settings.APP_VERSION,
            "pod": self._settings.POD_NAME,
            "dependencies": {name: self.states[name].to_dict() for name in DEPENDENCIES},
        }
        if verdict.degraded:
            body["degraded"] = verdict.degraded
        if verdict.reason:
            body["reason"] = verdict.reason
        return body
