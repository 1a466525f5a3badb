"""Named behaviour hooks that tests add and remove at any time, from any thread (the kubelet's pod rules and start
loggers, the simulated applications' HTTP rules): one registry instead of a list and a lock in each."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class RuleSet(Generic[T]):
    """Entries consulted in registration order; :meth:`add` returns the function that removes its entry again."""

    def __init__(self) -> None:
        self._entries: list[tuple[str, T]] = []
        self._lock = threading.Lock()

    def add(self, item: T, name: str) -> Callable[[], None]:
        """Register ``item`` under ``name``; the returned function removes it (twice is harmless)."""
        entry = (name, item)
        with self._lock:
            self._entries.append(entry)

        def remove() -> None:
            with self._lock:
                if entry in self._entries:
                    self._entries.remove(entry)

        return remove

    def names(self) -> list[str]:
        """The registered names, in order."""
        with self._lock:
            return [n for n, _ in self._entries]

    def items(self) -> list[T]:
        """A snapshot of the entries, in order (safe to iterate while others add or remove)."""
        with self._lock:
            return [item for _, item in self._entries]
