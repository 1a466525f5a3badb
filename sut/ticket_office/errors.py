"""Exceptions that become HTTP answers, and a one-line description of a dependency failure."""

from __future__ import annotations

import errno
import socket


class ApiError(Exception):
    """A request the service refuses: answered ``status`` with ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Unavailable(Exception):
    """A dependency the request needs cannot serve it: answered 503 (``reason`` is one line, no secrets)."""

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency}: {reason}")
        self.dependency = dependency
        self.reason = reason


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, and the members of exception groups, without cycles."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(linked for linked in (current.__cause__, current.__context__) if linked is not None)
    return seen


def describe_error(exc: BaseException, where: str, timeout_s: float) -> str:
    """``Connection refused (host:port)``, ``timed out after 0.3s (host:port)``, or the error's own words.

    ``where`` must not contain credentials: it is logged and served by the readiness probe.
    """
    chain = _chain(exc)
    for item in chain:
        text = str(item).lower()
        refused = isinstance(item, ConnectionRefusedError) or (
            isinstance(item, OSError) and item.errno == errno.ECONNREFUSED)
        if refused or "connection refused" in text or "[errno 111]" in text:
            return f"Connection refused ({where})"
    for item in chain:
        if isinstance(item, TimeoutError) or type(item).__name__ == "TimeoutError":
            return f"timed out after {timeout_s:g}s ({where})"
    for item in chain:
        if isinstance(item, socket.gaierror):
            return f"name resolution failed: {item.strerror or item} ({where})"
        if isinstance(item, ConnectionResetError):
            return f"Connection reset by peer ({where})"
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text} ({where})" if text else f"{type(exc).__name__} ({where})"
