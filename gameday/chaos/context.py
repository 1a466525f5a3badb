"""What every chaos activity needs: the configured target, the ledger, and this run's ledger entries.

A chaostoolkit run is one process, so "this run's faults" are the ledger entries this process wrote
(``owner_pid``); entries of any other process belong to another run (or to one that was killed).
"""

from __future__ import annotations

import os

from gameday.config import Settings, get_settings
from gameday.ledger import Ledger, LedgerEntry
from gameday.safety import guard
from gameday.state import StateDir
from gameday.targets import get_target
from gameday.targets.base import Target


def current_target(settings: Settings | None = None) -> Target:
    """The target named by configuration / environment (experiments never name one)."""
    return get_target(settings or get_settings())


def changing_target(settings: Settings | None = None) -> Target:
    """The target, after the safety guard said yes: call this before any activity that changes it."""
    target = current_target(settings)
    guard(target)
    return target


def ledger(settings: Settings | None = None) -> Ledger:
    """The fault ledger of the configured state directory."""
    return Ledger(StateDir((settings or get_settings()).state_dir).ensure().ledger)


def own_entries(book: Ledger, fault: str | None = None) -> list[LedgerEntry]:
    """Entries written by this process (this run), oldest first, optionally of one fault."""
    pid = os.getpid()
    return [e for e in book.entries()
            if e.kind == "fault" and e.owner_pid == pid and (fault is None or e.fault == fault)]


def foreign_entries(book: Ledger) -> list[LedgerEntry]:
    """Entries written by any other process: faults another run left (or is still applying)."""
    pid = os.getpid()
    return [e for e in book.entries() if e.kind == "fault" and e.owner_pid != pid]
