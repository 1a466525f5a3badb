"""Kafka publishing: an aiokafka producer (re)created as needed, behind the ``kafka`` circuit breaker.

The broker may be memory-only (Tansu): the topic is created (1 partition) whenever a producer is
started, and every event is written to partition 0 so that consumption order is outbox order even
if the broker auto-created the topic with more partitions.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from .breakers import CircuitBreakerError, call_guarded, is_open, make_breaker
from .errors import EventBusUnavailable, describe_error
from .kafka_probe import check_brokers
from .logging_setup import get_logger
from .settings import Settings

log = get_logger("events")

EVENT_PARTITION = 0


class EventPublisher:
    """Publishes events to Kafka; every call is bounded by KAFKA_TIMEOUT_SECONDS."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._timeout = settings.KAFKA_TIMEOUT_SECONDS
        self._producer: AIOKafkaProducer | None = None
        self._topic_ready = False
        self._unreachable: str | None = None
        self._lock = asyncio.Lock()
        self.where = settings.KAFKA_BOOTSTRAP
        self.breaker = make_breaker("kafka", failure_threshold=3, recovery_timeout=5.0)

    @property
    def available(self) -> bool:
        """False while the breaker is open."""
        return not is_open(self.breaker)

    async def ensure_topic(self) -> bool:
        """Create the order topic (1 partition) if missing; True if it was created now."""
        s = self._settings
        admin = AIOKafkaAdminClient(bootstrap_servers=s.KAFKA_BOOTSTRAP, client_id=f"{s.POD_NAME}-admin",
                                    request_timeout_ms=int(self._timeout * 1000))
        try:
            await admin.start()
            response = await admin.create_topics(
                [NewTopic(name=s.ORDER_TOPIC, num_partitions=1, replication_factor=1)])
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.close(), 0.5)
        for entry in response.topic_errors:
            code, message = entry[1], (entry[2] if len(entry) > 2 else "")
            if code == TopicAlreadyExistsError.errno:
                return False
            if code != 0:
                raise RuntimeError(f"cannot create topic {s.ORDER_TOPIC}: error {code} {message}")
        log.info("kafka: created topic %s (1 partition) on %s", s.ORDER_TOPIC, self.where)
        return True

    async def _ready_producer(self) -> AIOKafkaProducer:
        """The started producer, creating it (and the topic) first if needed."""
        if self._producer is None:
            # Cheap raw check first, so a dead broker is reported as "Connection refused".
            await check_brokers(self._settings.kafka_servers, self._timeout)
            producer = AIOKafkaProducer(
                bootstrap_servers=self._settings.KAFKA_BOOTSTRAP, client_id=self._settings.POD_NAME,
                acks=1, linger_ms=0, enable_idempotence=False, retry_backoff_ms=100,
                request_timeout_ms=int(self._timeout * 1000), metadata_max_age_ms=30_000)
            try:
                await producer.start()
            except BaseException:
                await self._stop_quietly(producer)
                raise
            self._producer = producer
        if not self._topic_ready:
            await self.ensure_topic()
            self._topic_ready = True
        return self._producer

    @staticmethod
    async def _stop_quietly(producer: AIOKafkaProducer) -> None:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(producer.stop(), 1.0)

    async def reset(self) -> None:
        """Drop the producer; the next publish starts a new one and re-checks the topic."""
        producer, self._producer = self._producer, None
        self._topic_ready = False
        if producer is not None:
            await self._stop_quietly(producer)

    def mark_unreachable(self, reason: str) -> None:
        """The readiness check found the broker down: fail publishes at once (they count for the breaker)."""
        self._unreachable = reason

    async def recover(self) -> None:
        """Kafka answered again: close the circuit and start over with a new producer."""
        self._unreachable = None
        async with self._lock:
            self.breaker.reset()
            await self.reset()

    async def prepare(self) -> None:
        """Start the producer and create the topic now (at start-up); failures are not fatal."""
        async with self._lock:
            try:
                async with asyncio.timeout(self._timeout):
                    await self._ready_producer()
            except Exception as exc:
                log.warning("kafka: not ready at start-up, events will wait in the outbox: %s",
                            describe_error(exc, self.where, self._timeout))
                await self.reset()

    async def publish(self, topic: str, key: str, value: str) -> None:
        """Publish one event (key = aggregate id) and wait for the broker's acknowledgement.

        Raises EventBusUnavailable on failure or while the breaker is open.
        """

        async def send() -> None:
            if self._unreachable is not None:
                raise EventBusUnavailable(self._unreachable)
            async with asyncio.timeout(self._timeout):
                producer = await self._ready_producer()
                await producer.send_and_wait(topic, value=value.encode(), key=key.encode(),
                                             partition=EVENT_PARTITION)

        async with self._lock:
            try:
                await call_guarded(self.breaker, send)
            except CircuitBreakerError as exc:
                raise EventBusUnavailable("circuit breaker open") from exc
            except EventBusUnavailable:
                await self.reset()
                raise
            except Exception as exc:
                await self.reset()
                raise EventBusUnavailable(describe_error(exc, self.where, self._timeout)) from exc

    async def close(self) -> None:
        """Flush and stop the producer (bounded)."""
        await self.reset()
