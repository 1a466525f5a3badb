"""``gameday halt`` / ``gameday resume``: the emergency stop for a target, from any shell.

A halt writes its record first (so nothing new starts), then ends every gameday process working on
the target - the lock's holder and every process that owns a ledger entry, frozen or not - and
finally undoes everything the ledger holds: the ledger is the truth, so this works when the run is
frozen (SIGSTOP) or already dead. Until ``gameday resume``, ``run``, ``chaos run`` and ``inject``
refuse with one line naming who halted, when and why.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gameday.abort import Undone, end_processes, undo_entries
from gameday.errors import SafetyError
from gameday.guard import lock
from gameday.guard.records import Records
from gameday.ledger import Ledger

HALT = "halt"
EXIT_HALTED = 5  # documented in README "Exit codes"


class Halted(SafetyError):
    """The target is halted: nothing may be injected until ``gameday resume``."""

    exit_code = EXIT_HALTED


def describe(record: dict[str, Any]) -> str:
    """``by alice@host at 2026-11-29 17:02:03: reason``."""
    at = datetime.fromtimestamp(float(record.get("at", 0))).strftime("%Y-%m-%d %H:%M:%S")
    return f"by {record.get('by')} at {at}: {record.get('reason') or 'no reason given'}"


def ensure_not_halted(records: Records) -> None:
    """Refuse (one line) while the target is halted."""
    record = records.read(HALT)
    if record is not None:
        raise Halted(f"target halted {describe(record)} ({records.where}); run 'gameday resume' to allow game days")


@dataclass
class HaltResult:
    """What a halt did."""

    record: dict[str, Any]
    stopped_pids: list[int]
    undone: Undone
    faults_undone_s: float  # from the halt's start to every fault undone (the figure that matters)
    duration_s: float


def _owner_pids(ledger: Ledger, holder: dict[str, Any] | None) -> list[int]:
    here = socket.gethostname()
    pids = {e.owner_pid for e in ledger.entries()}
    if holder and holder.get("host") == here:
        pids.add(int(holder.get("pid") or 0))
    return sorted(p for p in pids if p and p != os.getpid())


def halt(records: Records, ledger: Ledger, reason: str = "") -> HaltResult:
    """Record the halt, stop every gameday process on the target, undo every fault in the ledger."""
    started = time.monotonic()
    record = {"by": f"{getpass.getuser()}@{socket.gethostname()}", "pid": os.getpid(), "at": time.time(),
              "reason": reason}
    existing = records.read(HALT)
    if existing is not None:
        record = existing  # halting twice keeps the first record; the rest is done again
    else:
        records.create(HALT, record)
    holder = lock.current_holder(records)
    stopped = end_processes([p for p in _owner_pids(ledger, holder) if lock.is_gameday_process(p)], "gameday",
                            grace_s=0.5)
    entries = ledger.entries()
    undone = undo_entries(ledger, [e for e in entries if e.kind != "load"])  # what hurts the service first
    faults_undone_s = time.monotonic() - started
    loads = undo_entries(ledger, [e for e in entries if e.kind == "load"])
    undone.undone += loads.undone
    undone.failed += loads.failed
    lock.clear(records)
    return HaltResult(record, stopped, undone, faults_undone_s, time.monotonic() - started)


def resume(records: Records) -> dict[str, Any] | None:
    """Remove the halt record; returns it (None when the target was not halted)."""
    record = records.read(HALT)
    if record is not None:
        records.swap(HALT, record, None)
    return record
