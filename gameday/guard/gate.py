"""The way into a run that changes a target: allowlist, halt record, then the one-game-day-at-a-time lock.

Order matters: the allowlist is checked from configuration before any network call; the halt record
before the lock (a halted target refuses, it does not queue); the lock before the ledger is read (a
second run is told who holds the target, not that the ledger holds someone else's faults).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gameday.config import Settings
from gameday.guard.halt import ensure_not_halted
from gameday.guard.lock import GameDayLock
from gameday.guard.records import records_for
from gameday.safety import guard_settings


def admit(settings: Settings) -> None:
    """Refuse (one line) a mutating command on a target that is not allowlisted or is halted."""
    guard_settings(settings)
    ensure_not_halted(records_for(settings))


def game_day_lock(settings: Settings, wait_s: float = 0.0, command: str = "",
                  on_halt: Callable[[dict[str, Any]], None] | None = None) -> GameDayLock:
    """:func:`admit`, then the target's lock, not yet taken (use it as a ``with`` block). ``on_halt``: called once
    when a halt record appears while the lock is held, where the lock is renewed (kubernetes: a halt from another
    machine, which cannot signal this process)."""
    admit(settings)
    return GameDayLock(records_for(settings), command=command, wait_s=wait_s, on_halt=on_halt)
