"""Exceptions shared by the modules and a one-line description of dependency failures."""

from __future__ import annotations

import errno
import socket


class DependencyUnavailable(Exception):
    """A dependency (postgres, redis, kafka) could not serve a call; ``reason`` is one line."""

    dependency = "dependency"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.dependency}: {self.reason}"


class DatabaseUnavailable(DependencyUnavailable):
    """PostgreSQL is unreachable, hanging, or not ready (schema missing)."""

    dependency = "postgres"


class CacheUnavailable(DependencyUnavailable):
    """Redis is unreachable, hanging, or its circuit breaker is open."""

    dependency = "redis"


class EventBusUnavailable(DependencyUnavailable):
    """Kafka is unreachable, hanging, or its circuit breaker is open."""

    dependency = "kafka"


class ServiceUnavailable(Exception):
    """The request cannot be served at all: answered 503 ``service unavailable``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes/contexts and (for groups) their members, without cycles."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)
    return seen


def describe_error(exc: BaseException, where: str = "", timeout: float | None = None) -> str:
    """Describe a dependency failure on one line, using the runbook's wording where it applies.

    Refused connections become ``Connection refused (host:port)``; timeouts become
    ``timed out after Ns (host:port)``.
    """
    suffix = f" ({where})" if where else ""
    chain = _chain(exc)
    for item in chain:
        if isinstance(item, ConnectionRefusedError) or (
            isinstance(item, OSError) and item.errno == errno.ECONNREFUSED
        ) or "connection refused" in str(item).lower() or "[errno 111]" in str(item).lower():
            return f"Connection refused{suffix}"
    for item in chain:
        if isinstance(item, TimeoutError) or type(item).__name__ in ("TimeoutError", "KafkaTimeoutError"):
            after = f" after {timeout:g}s" if timeout is not None else ""
            return f"timed out{after}{suffix}"
    for item in chain:
        if isinstance(item, socket.gaierror):
            return f"name resolution failed: {item}{suffix}"
        if isinstance(item, ConnectionResetError):
            return f"Connection reset by peer{suffix}"
    text = str(exc).replace("\n", " ").strip()
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}{suffix}" if text else f"{type(exc).__name__}{suffix}"
