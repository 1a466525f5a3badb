"""What every chaos activity needs: the run's context (from chaostoolkit's configuration), its target passed by the
safety guard, the ledger, and this run's ledger entries.

A chaostoolkit run is one process, so "this run's faults" are the ledger entries this process wrote
(``owner_pid`` on this host, ``owner_host``); entries of any other process belong to another run (or to one
that was killed).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from gameday.config import Settings
from gameday.context import RunContext
from gameday.ledger import Ledger, LedgerEntry
from gameday.safety import guard
from gameday.targets import ledger_for
from gameday.targets.base import Target

Configuration = Mapping[str, Any] | None  # chaostoolkit's ``configuration`` as an activity receives it


def run_context(configuration: Configuration) -> RunContext:
    """The run's context, rebuilt from the configuration chaostoolkit handed the activity."""
    return RunContext.from_configuration(configuration)


def changing_target(ctx: RunContext) -> Target:
    """The target, after the safety guard said yes: call this before any activity that changes it."""
    target = ctx.target
    guard(target, safety=ctx.settings.safety)
    return target


def ledger(settings: Settings) -> Ledger:
    """The fault ledger of the configured target (the state directory's; kubernetes: the cluster's)."""
    return ledger_for(settings)


def own_entries(book: Ledger, fault: str | None = None) -> list[LedgerEntry]:
    """Entries written by this process (this run), oldest first, optionally of one fault."""
    pid, host = os.getpid(), socket.gethostname()
    return [e for e in book.entries()
            if e.kind == "fault" and e.owned_by(pid, host) and (fault is None or e.fault == fault)]


def foreign_entries(book: Ledger) -> list[LedgerEntry]:
    """Entries written by any other process: faults another run left (or is still applying)."""
    pid, host = os.getpid(), socket.gethostname()
    return [e for e in book.entries() if e.kind == "fault" and not e.owned_by(pid, host)]
