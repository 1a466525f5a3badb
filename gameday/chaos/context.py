"""What every chaos activity needs: the configured target, the ledger, and this run's ledger entries.

A chaostoolkit run is one process, so "this run's faults" are the ledger entries this process wrote
(``owner_pid`` on this host, ``owner_host``); entries of any other process belong to another run (or to one
that was killed).
"""

from __future__ import annotations

import os
import socket

from gameday.config import Settings, get_settings
from gameday.ledger import Ledger, LedgerEntry, ledger_for
from gameday.safety import guard
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
    """The fault ledger of the configured target (the state directory's; kubernetes: the cluster's)."""
    return ledger_for(settings or get_settings())


def own_entries(book: Ledger, fault: str | None = None) -> list[LedgerEntry]:
    """Entries written by this process (this run), oldest first, optionally of one fault."""
    pid, host = os.getpid(), socket.gethostname()
    return [e for e in book.entries()
            if e.kind == "fault" and e.owned_by(pid, host) and (fault is None or e.fault == fault)]


def foreign_entries(book: Ledger) -> list[LedgerEntry]:
    """Entries written by any other process: faults another run left (or is still applying)."""
    pid, host = os.getpid(), socket.gethostname()
    return [e for e in book.entries() if e.kind == "fault" and not e.owned_by(pid, host)]
