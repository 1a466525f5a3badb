"""The transactional-outbox relay: publishes pending ``order-created`` events in outbox id order.

Orders write their event into the ``outbox`` table in the same transaction as the order. The relay
runs every OUTBOX_INTERVAL_SECONDS (and right after each order), takes a PostgreSQL advisory lock so
that only one replica relays at a time (which keeps the global order), publishes the oldest pending
rows one by one and marks them sent. Delivery is at-least-once: a crash between the broker's
acknowledgement and the commit republishes those events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from . import repository
from .db import Database
from .errors import DependencyUnavailable, describe_error
from .events import EventPublisher
from .logging_setup import get_logger
from .metrics import Metrics
from .settings import Settings

log = get_logger("outbox")

RELAY_LOCK_KEY = 0x6F757462  # "outb"
BATCH_SIZE = 200


class OutboxRelay:
    """Background relay from the outbox table to Kafka."""

    def __init__(self, settings: Settings, db: Database, publisher: EventPublisher, metrics: Metrics) -> None:
        self._settings = settings
        self._db = db
        self._publisher = publisher
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self._requested = 0
        self._completed = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_problem: str | None = None
        self.pending: int | None = None

    def start(self) -> None:
        """Start the periodic relay task."""
        self._task = asyncio.create_task(self._loop(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop the periodic relay task."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _loop(self) -> None:
        interval = self._settings.OUTBOX_INTERVAL_SECONDS
        while not self._stop.is_set():
            await self.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)

    async def flush(self) -> None:
        """Run one relay pass that starts after this call (concurrent callers share a pass)."""
        self._requested += 1
        ticket = self._requested
        async with self._lock:
            if self._completed >= ticket:
                return
            covers = self._requested
            await self._pass()
            self._completed = covers

    def _report(self, problem: str | None) -> None:
        """Log relay problems once per change, not every interval."""
        if problem != self._last_problem:
            if problem is None:
                log.info("outbox relay: publishing again (pending=%s)", self.pending)
            else:
                log.warning("outbox relay: %s (pending=%s)", problem, self.pending)
            self._last_problem = problem

    async def _pass(self) -> None:
        budget = self._settings.DB_TIMEOUT_SECONDS + self._settings.KAFKA_TIMEOUT_SECONDS * 2
        published = 0
        failure: str | None = None

        async def relay(conn: asyncpg.Connection) -> None:
            nonlocal published, failure
            async with conn.transaction():
                # Another replica relaying right now? Then it keeps the order; we only count.
                locked = await repository.try_lock_outbox(conn, RELAY_LOCK_KEY)
                rows = await repository.pending_outbox(conn, BATCH_SIZE) if locked else []
                sent: list[int] = []
                for row in rows:
                    try:
                        await self._publisher.publish(row.topic, row.key, row.payload)
                    except DependencyUnavailable as exc:
                        failure = f"kafka: {exc.reason}"
                        break
                    sent.append(row.id)
                if sent:
                    await repository.mark_sent(conn, sent)
                published = len(sent)
            self.pending = await repository.count_pending(conn)

        if not self._db.schema_ready:
            return  # PostgreSQL not reached yet, or down: the readiness monitor reports it
        try:
            if self._publisher.available:
                await self._db.run(relay, timeout=budget)
            else:
                self.pending = await self._db.run(repository.count_pending)
                failure = "kafka: circuit breaker open"
        except DependencyUnavailable as exc:
            failure = str(exc)
        except Exception as exc:  # a bug must not kill the relay loop
            failure = f"unexpected error: {describe_error(exc)}"
            log.exception("outbox relay pass failed")
        if self.pending is not None:
            self._metrics.outbox_pending.set(self.pending)
        if published:
            self._metrics.events_published.inc(published)
            # Routine one-event passes after an order stay quiet; backlog deliveries are logged.
            level = logging.INFO if published > 1 or self._last_problem is not None else logging.DEBUG
            log.log(level, "outbox relay: published %d event(s), pending=%s", published, self.pending)
        self._report(failure)
