"""Container logs: per pod/container, per incarnation (``previous=true`` reads the last one)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from . import errors
from .timefmt import now, rfc3339_nano

MAX_LINES = 2000


@dataclass
class _Container:
    current: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    previous: deque[tuple[float, str]] | None = None


class LogStore:
    """Thread-safe log buffers keyed by (namespace, pod, container)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._logs: dict[tuple[str, str, str], _Container] = {}
        self.version = 0

    def append(self, namespace: str, pod: str, container: str, line: str, ts: float | None = None) -> None:
        """Append one line (trailing newline stripped) to the container's current incarnation."""
        with self._lock:
            buf = self._logs.setdefault((namespace, pod, container), _Container())
            for part in line.rstrip("\n").split("\n"):
                buf.current.append((ts if ts is not None else now(), part))
            self.version += 1
            self._lock.notify_all()

    def restart(self, namespace: str, pod: str, container: str) -> None:
        """Start a new incarnation: the current log becomes ``previous``."""
        with self._lock:
            buf = self._logs.setdefault((namespace, pod, container), _Container())
            buf.previous = buf.current
            buf.current = deque(maxlen=MAX_LINES)
            self.version += 1
            self._lock.notify_all()

    def forget(self, namespace: str, pod: str) -> None:
        """Drop the logs of a removed pod."""
        with self._lock:
            for key in [k for k in self._logs if k[0] == namespace and k[1] == pod]:
                del self._logs[key]
            self.version += 1
            self._lock.notify_all()

    def lines(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        previous: bool = False,
        tail: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
        limit_bytes: int | None = None,
    ) -> list[str]:
        """The selected lines, each ending with a newline."""
        with self._lock:
            buf = self._logs.get((namespace, pod, container))
            if buf is None:
                return []
            if previous:
                if buf.previous is None:
                    raise errors.bad_request(
                        f'previous terminated container "{container}" in pod "{pod}" not found'
                    )
                entries = list(buf.previous)
            else:
                entries = list(buf.current)
        if since_seconds is not None:
            cutoff = now() - since_seconds
            entries = [e for e in entries if e[0] >= cutoff]
        if tail is not None and tail >= 0:
            entries = entries[-tail:] if tail else []
        out = [(f"{rfc3339_nano(ts)} {text}\n" if timestamps else f"{text}\n") for ts, text in entries]
        if limit_bytes is not None:
            kept, size = [], 0
            for line in out:
                if size + len(line.encode()) > limit_bytes:
                    break
                kept.append(line)
                size += len(line.encode())
            out = kept
        return out

    def shift(self, seconds: float) -> None:
        """Make every line ``seconds`` older (:meth:`FakeKube.age`)."""
        with self._lock:
            for buf in self._logs.values():
                for incarnation in (buf.current, buf.previous):
                    if incarnation is not None:
                        aged = [(ts - seconds, text) for ts, text in incarnation]
                        incarnation.clear()
                        incarnation.extend(aged)

    def count(self, namespace: str, pod: str, container: str) -> int:
        """Number of lines in the current incarnation."""
        with self._lock:
            buf = self._logs.get((namespace, pod, container))
            return len(buf.current) if buf else 0

    def wake(self) -> None:
        """Wake every waiting follower (used on shutdown)."""
        with self._lock:
            self._lock.notify_all()

    def wait(self, version: int, timeout: float) -> int:
        """Block until something was appended after ``version`` (or timeout); returns the new version."""
        with self._lock:
            if self.version == version:
                self._lock.wait(timeout)
            return self.version
