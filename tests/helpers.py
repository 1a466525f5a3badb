"""Small helpers for tests: wait on a condition with a deadline, HTTP through the load balancer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)  # poll
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last value: {last!r})")


def status_of(url: str, timeout: float = 3.0, method: str = "GET", **kwargs: object) -> int | None:
    """HTTP status, or None when the connection failed or timed out."""
    try:
        return httpx.request(method, url, timeout=timeout, **kwargs).status_code  # type: ignore[arg-type]
    except httpx.HTTPError:
        return None
