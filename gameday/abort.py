"""Undo what the ledger records: a run's own faults when it ends, everything on ``gameday abort``/``halt``.

Faults are undone newest first through their fault's undo. Entries that provably changed nothing (written
but never applied, or naming something the target does not have) are cleared and reported as such, so a
typo can never jam the ledger. Load-generator entries end their process groups.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from gameday import faults
from gameday.canary.record import CANARY
from gameday.canary.record import undo as undo_canary
from gameday.ledger import Ledger, LedgerEntry
from gameday.targets import from_identity
from gameday.targets.base import NothingChanged

LOAD_FAULT = "load-generator"


@dataclass
class Undone:
    """What an undo pass did, one line per entry."""

    undone: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)  # provably changed nothing: forgotten
    failed: list[str] = field(default_factory=list)  # kept in the ledger

    def lines(self) -> list[str]:
        """Every line for people, in order: undone, cleared, failed."""
        return ([f"undone: {x}" for x in self.undone] + [f"cleared (changed nothing): {x}" for x in self.cleared]
                + [f"NOT undone: {x}" for x in self.failed])


def load_entry(pids: list[int], target: dict[str, object]) -> LedgerEntry:
    """The ledger entry of a load generator: its process ids (each leads its own process group)."""
    return LedgerEntry(fault=LOAD_FAULT, params={"pids": list(pids)}, target=dict(target), state="injected",
                       kind="load")


def _is_process(pid: int, word: str) -> bool:
    """Whether ``pid`` is alive and its command line contains ``word`` (never signal a recycled pid)."""
    try:
        return word in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def end_processes(pids: list[int], word: str, grace_s: float = 1.0) -> list[int]:
    """SIGTERM the process groups of ``pids`` that are still ``word`` processes, then SIGKILL what remains.

    Returns the pids that were running. A frozen (SIGSTOPped) process is not woken up: it gets SIGKILL after
    the grace, and the ledger, not the process, says what to undo.
    """
    alive = [pid for pid in pids if pid != os.getpid() and _is_process(pid, word)]
    for pid in alive:
        _signal(pid, signal.SIGKILL if _state(pid) == "T" else signal.SIGTERM)  # frozen: it would never answer
    deadline = time.monotonic() + grace_s
    while any(_running(pid) for pid in alive) and time.monotonic() < deadline:
        time.sleep(0.05)  # poll
    for pid in alive:
        if _running(pid):
            _signal(pid, signal.SIGKILL)
    return alive


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the process group ``pid`` leads (locust and its workers), else the process alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _state(pid: int) -> str:
    """The process state letter (R, S, T stopped, Z zombie ...); "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    return _state(pid) not in ("", "Z")


def undo_entries(ledger: Ledger, entries: list[LedgerEntry]) -> Undone:
    """Undo ``entries`` newest first; every entry gets its turn whatever the others do."""
    result = Undone()
    for entry in reversed(entries):
        try:
            if entry.kind == "load":
                end_processes([int(p) for p in entry.params.get("pids", [])], "locust", grace_s=0.5)
                ledger.remove(entry.id)
                result.undone.append(entry.describe())
            elif entry.kind == CANARY:  # the previous revision back on every replica
                undo_canary(from_identity(entry.target), ledger, entry)
                result.undone.append(entry.describe())
            elif entry.changed_nothing:
                ledger.remove(entry.id)
                result.cleared.append(entry.describe())
            else:
                faults.undo(from_identity(entry.target), ledger, entry)
                result.undone.append(entry.describe())
        except NothingChanged as exc:  # the undo names something that does not exist: so did the inject
            ledger.remove(entry.id)
            result.cleared.append(f"{entry.describe()} ({exc})")
        except Exception as exc:  # keep going: every other fault still gets its undo
            result.failed.append(f"{entry.describe()}: {type(exc).__name__}: {exc}")
    return result


def undo_own(ledger: Ledger, pid: int | None = None) -> Undone:
    """Undo only the entries one run (one process, default this one) wrote: never another run's faults."""
    return undo_entries(ledger, ledger.own(pid))


def abort_all(ledger: Ledger) -> tuple[list[str], list[str]]:
    """Undo every entry, newest first; return (undone or cleared, failed) descriptions."""
    result = undo_entries(ledger, ledger.entries())
    return result.undone + result.cleared, result.failed
