"""Circuit breakers (the ``circuitbreaker`` library) around Redis and Kafka calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from circuitbreaker import STATE_OPEN, CircuitBreaker, CircuitBreakerError

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["CircuitBreaker", "CircuitBreakerError", "call_guarded", "is_open", "make_breaker"]


def make_breaker(name: str, failure_threshold: int = 3, recovery_timeout: float = 5.0) -> CircuitBreaker:
    """A breaker that opens after ``failure_threshold`` consecutive failures for ``recovery_timeout`` s."""
    return CircuitBreaker(failure_threshold=failure_threshold, recovery_timeout=recovery_timeout,
                          expected_exception=Exception, name=name)


async def call_guarded(breaker: CircuitBreaker, func: Callable[P, Awaitable[T]],
                       *args: P.args, **kwargs: P.kwargs) -> T:
    """Await ``func`` through the breaker: fail at once with CircuitBreakerError while it is open."""
    if breaker.opened:
        raise CircuitBreakerError(breaker)
    return await breaker.call_async(func, *args, **kwargs)


def is_open(breaker: CircuitBreaker) -> bool:
    """True while the breaker rejects calls (open and not yet half-open)."""
    return breaker.state == STATE_OPEN
