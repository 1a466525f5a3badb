"""``gameday halt`` / ``gameday resume``: the emergency stop for a target, from any shell.

A halt writes its record first (so nothing new starts), then, in this order:

1. kills the gameday processes on the target that someone else froze (SIGSTOP: they would never answer), and
   freezes the running ones itself - the lock's holder and every owner of a ledger entry - so that none injects
   anything more or races an undo (never one inside the ledger's lock);
2. undoes every fault the ledger holds, at once: the ledger is the truth, so this works whatever the processes
   were doing, and is what the halt's "faults undone in" figure measures; then resolves the open pages;
3. ends the processes it froze: SIGCONT then SIGTERM, and a grace (``GRACE_S``) in which a run stops its load,
   finds its faults already undone and writes its partial report saying it was halted; SIGKILL after that;
4. undoes what is left (load generators, anything a killed process left) and clears the lock.

Until ``gameday resume``, ``run``, ``chaos run`` and ``inject`` refuse with one line naming who halted, when and
why.

On the kubernetes target the record and the ledger live in the cluster, so a halt from any machine undoes every
fault; the processes it can freeze and end are only those of its own host. A game day running elsewhere reads the
halt record every ``lock.HALT_POLL_S`` (its lock's keepalive) and ends itself as it would on SIGTERM.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gameday.abort import Undone, end_processes, freeze, thaw_briefly, undo_entries
from gameday.errors import SafetyError
from gameday.guard import lock
from gameday.guard.records import Records
from gameday.ledger import Ledger
from gameday.notify.pages import PAGE

if TYPE_CHECKING:
    from gameday.config import Settings

HALT = lock.HALT
EXIT_HALTED = 5  # documented in README "Exit codes"
GRACE_S = 10.0  # a halted run's time to end itself and write its partial report, before SIGKILL
LATER_KINDS = ("load", PAGE)  # everything else hurts the service: undone first


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
    killed_pids: list[int]  # SIGKILLed: frozen by someone else, or still running after the grace
    undone: Undone
    faults_undone_s: float  # from the halt's start to every fault undone (the figure that matters)
    duration_s: float


def _owner_pids(ledger: Ledger, holder: dict[str, Any] | None) -> list[int]:
    here = socket.gethostname()
    pids = {e.owner_pid for e in ledger.entries() if e.owner_host == here}  # another host's pids are not ours
    if holder and holder.get("host") == here:
        pids.add(int(holder.get("pid") or 0))
    return sorted(p for p in pids if p and p != os.getpid())


def halt(records: Records, ledger: Ledger, reason: str = "", grace_s: float = GRACE_S, *,
         settings: Settings | None = None) -> HaltResult:
    """Record the halt, freeze every gameday process on the target, undo every fault in the ledger, then end
    the processes (with ``grace_s`` to write their partial report) and undo what is left. ``settings`` rebuild the
    target each fault names (:func:`gameday.abort.undo_entries`)."""
    started = time.monotonic()
    record = {"by": f"{getpass.getuser()}@{socket.gethostname()}", "pid": os.getpid(), "at": time.time(),
              "reason": reason}
    existing = records.read(HALT)
    if existing is not None:
        record = existing  # halting twice keeps the first record; the rest is done again
    else:
        records.create(HALT, record)
    holder = lock.current_holder(records)
    pids = [p for p in _owner_pids(ledger, holder) if lock.is_gameday_process(p)]
    frozen = freeze(pids, "gameday")
    _, killed = end_processes([p for p in pids if p not in frozen], "gameday", grace_s=0.5)  # frozen already
    for _ in range(50):  # a run frozen inside the ledger's lock lets go of it (a few milliseconds)
        if not ledger.locked_elsewhere():
            break
        thaw_briefly(frozen)
    entries = ledger.entries()
    faults = [e for e in entries if e.kind not in LATER_KINDS]
    undone = undo_entries(ledger, faults, why="halted", reset_network=True, settings=settings)
    faults_undone_s = time.monotonic() - started
    open_pages = [e for e in entries if e.kind == PAGE]
    if undone.failed:  # the outage may go on: on-call must still know
        undone.failed += [f"{e.describe()}: kept open: a fault was not undone" for e in open_pages]
    else:
        _merge(undone, undo_entries(ledger, open_pages, why="halted", settings=settings))
    _, late = end_processes(frozen, "gameday", grace_s=grace_s, thaw=frozen)
    tried = {e.id for e in faults + open_pages}
    rest = [e for e in ledger.entries() if e.id not in tried]  # load generators; what a killed run left
    _merge(undone, undo_entries(ledger, rest, why="halted", settings=settings))
    lock.clear(records)
    return HaltResult(record, pids, killed + late, undone, faults_undone_s, time.monotonic() - started)


def _merge(into: Undone, more: Undone) -> None:
    into.undone += more.undone
    into.cleared += more.cleared
    into.failed += more.failed


def resume(records: Records) -> dict[str, Any] | None:
    """Remove the halt record; returns it (None when the target was not halted)."""
    record = records.read(HALT)
    if record is not None:
        records.swap(HALT, record, None)
    return record
