"""Undo what the ledger records: a run's own faults when it ends, everything on ``gameday abort``/``halt``.

``gameday abort --expired`` undoes only what a dead runner left: entries whose expiry passed (kubernetes: the
owner renews them while it runs), claimed first so that two reapers never undo one fault at once.

Faults are undone newest first through their fault's undo. Entries that provably changed nothing (written
but never applied, or naming something the target does not have) are cleared and reported as such, so a
typo can never jam the ledger. Load-generator entries end their process groups. Open pages (kind ``page``) are
resolved last, once the faults they announced are undone, and only then: a page stays open while a fault of the
same pass could not be undone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gameday import faults
from gameday.errors import GamedayError
from gameday.faults.network import NetworkFault
from gameday.ledger import Ledger, LedgerEntry
from gameday.notify import pages
from gameday.targets import from_identity
from gameday.targets.base import Target
from gameday.targets.model import NothingChanged

if TYPE_CHECKING:
    from gameday.config import Settings

LOAD_FAULT = "load-generator"
CANARY = "canary"  # the ledger kind of a canary (written by gameday.canary.record), undone here as any other kind
CANARY_UNDO_TIMEOUT_S = 60.0


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
    """The ledger entry of a load generator: its process ids (each leads its own process group) and the host they
    run on (an entry's owner changes when the reaper claims it; the processes stay where they were)."""
    return LedgerEntry(fault=LOAD_FAULT, params={"pids": list(pids), "host": socket.gethostname()},
                       target=dict(target), state="injected", kind="load")


def undo_canary(target: Target, ledger: Ledger, found: LedgerEntry, timeout: float = CANARY_UNDO_TIMEOUT_S) -> None:
    """Put back the previous revision of a canary (``kind="canary"``) on every replica, then forget the entry."""
    target.canary().undo(found.undo, timeout)
    ledger.remove(found.id)


def _target(entry: LedgerEntry, settings: Settings | None) -> Target:
    """The target an entry names, rebuilt with the caller's settings (an undo that has none cannot rebuild it)."""
    if settings is None:
        raise GamedayError("no settings were given to rebuild its target")
    return from_identity(entry.target, settings)


def _is_process(pid: int, word: str) -> bool:
    """Whether ``pid`` is alive and its command line contains ``word`` (never signal a recycled pid)."""
    try:
        return word in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def end_processes(pids: list[int], word: str, grace_s: float = 1.0,
                  thaw: Collection[int] = ()) -> tuple[list[int], list[int]]:
    """SIGTERM the process groups of ``pids`` that are still ``word`` processes, then SIGKILL what remains.

    Returns (the pids that were running, those SIGKILLed). A frozen (SIGSTOPped) process is not woken up: it gets
    SIGKILL at once, and the ledger, not the process, says what to undo; except those in ``thaw``, which the
    caller froze itself: they get SIGCONT then SIGTERM, and the grace to end themselves (a halted run writes its
    partial report).
    """
    alive = [pid for pid in pids if pid != os.getpid() and _is_process(pid, word)]
    killed = []
    for pid in alive:
        if pid in thaw:
            _signal(pid, signal.SIGCONT)
            _signal_main_thread(pid, signal.SIGTERM)
        elif _state(pid) == "T":  # frozen by someone else: it would never answer
            _signal(pid, signal.SIGKILL)
            killed.append(pid)
        else:
            _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(_running(pid) for pid in alive) and time.monotonic() < deadline:
        time.sleep(0.05)  # poll
    for pid in alive:
        if _running(pid):
            _signal(pid, signal.SIGKILL)
            killed.append(pid)
    return alive, killed


def freeze(pids: list[int], word: str) -> list[int]:
    """SIGSTOP the ``word`` processes among ``pids`` that are running; return those frozen here (not those that
    were frozen already). A frozen run injects nothing more and races no undo."""
    frozen = [pid for pid in pids if pid != os.getpid() and _is_process(pid, word) and _state(pid) not in ("T", "Z")]
    for pid in frozen:
        _signal(pid, signal.SIGSTOP)
    return frozen


def thaw_briefly(pids: list[int], pause_s: float = 0.01) -> None:
    """Let frozen processes run for a moment (one was frozen holding a lock: it lets go), then freeze them again."""
    for pid in pids:
        _signal(pid, signal.SIGCONT)
    time.sleep(pause_s)  # the holder finishes its (short) locked section
    for pid in pids:
        _signal(pid, signal.SIGSTOP)


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the process group ``pid`` leads (locust and its workers), else the process alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _signal_main_thread(pid: int, sig: signal.Signals) -> None:
    """Signal the main thread of ``pid`` (tgkill). A process-directed signal to a process just woken from SIGSTOP
    may be taken by any of its threads; Python then runs the handler only when the main thread wakes, which an
    experiment's pause (a sleep of minutes) does not: the run would not hear it before its SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if not hasattr(libc, "tgkill") or libc.tgkill(pid, pid, int(sig)) != 0:
            os.kill(pid, sig)  # no tgkill here, or it failed: the process-directed signal is the next best


def _state(pid: int) -> str:
    """The process state letter (R, S, T stopped, Z zombie ...); "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    return _state(pid) not in ("", "Z")


def undo_entries(ledger: Ledger, entries: list[LedgerEntry], why: str = "aborted",
                 reset_network: bool = False, *, settings: Settings | None = None) -> Undone:
    """Undo ``entries`` newest first, open pages last; every entry gets its turn whatever the others do.

    ``why`` ends the resolve's text of each page ("game day aborted"). ``reset_network`` (``abort``, ``halt``):
    when a network fault was among them, each of its targets' fault proxies is reset too (every toxic removed,
    every link enabled: Toxiproxy's ``POST /reset``), whatever its own undo did. ``settings`` (the caller's) rebuild
    the target each fault or canary names; entries that need no target (load, pages, changed nothing) need none."""
    result = Undone()
    if reset_network:
        _reset_fault_proxies(entries, result, settings)
    ordered = [e for e in reversed(entries) if e.kind != pages.PAGE] + [e for e in entries if e.kind == pages.PAGE]
    for entry in ordered:
        try:
            if entry.kind == pages.PAGE:
                if result.failed:  # the outage it announced may go on: on-call must still know
                    raise GamedayError("kept open: a fault of this pass was not undone")
                pages.undo(ledger, entry, why)
                result.undone.append(entry.describe())
            elif entry.kind == "load":
                if entry.params.get("host", entry.owner_host) == socket.gethostname():  # elsewhere: other processes
                    end_processes([int(p) for p in entry.params.get("pids", [])], "locust", grace_s=0.5)
                ledger.remove(entry.id)
                result.undone.append(entry.describe())
            elif entry.kind == CANARY:  # the previous revision back on every replica
                undo_canary(_target(entry, settings), ledger, entry)
                result.undone.append(entry.describe())
            elif entry.changed_nothing:
                ledger.remove(entry.id)
                result.cleared.append(entry.describe())
            else:
                faults.undo(_target(entry, settings), ledger, entry)
                result.undone.append(entry.describe())
        except NothingChanged as exc:  # the undo names something that does not exist: so did the inject
            ledger.remove(entry.id)
            result.cleared.append(f"{entry.describe()} ({exc})")
        except Exception as exc:  # keep going: every other fault still gets its undo
            result.failed.append(f"{entry.describe()}: {type(exc).__name__}: {exc}")
    return result


def _reset_fault_proxies(entries: list[LedgerEntry], result: Undone, settings: Settings | None) -> None:
    """``POST /reset`` on the fault proxy of every target a network fault of ``entries`` was injected into; a
    failure is one more line of ``result.failed`` (the entries' own undos still run)."""
    network = [e for e in entries if e.kind == "fault" and isinstance(faults.FAULTS.get(e.fault), NetworkFault)]
    seen: list[dict[str, object]] = []
    for entry in network:
        if entry.target in seen:
            continue
        seen.append(entry.target)
        try:
            _target(entry, settings).reset_network_faults()
        except NothingChanged:
            continue
        except Exception as exc:
            result.failed.append(f"fault proxy reset for {entry.describe()}: {type(exc).__name__}: {exc}")


def undo_own(ledger: Ledger, pid: int | None = None, *, settings: Settings | None = None) -> Undone:
    """Undo only the entries one run (one process, default this one) wrote: never another run's faults."""
    return undo_entries(ledger, ledger.own(pid), settings=settings)


def undo_expired(ledger: Ledger, *, settings: Settings | None = None) -> Undone:
    """The dead man's switch (``gameday abort --expired``, the reaper): undo only the entries whose owner stopped
    renewing them, each claimed first (see :meth:`Ledger.claim_expired`); live runs' entries are never touched."""
    return undo_entries(ledger, ledger.claim_expired(), why="expired (its runner stopped renewing it)",
                        settings=settings)


def abort_all(ledger: Ledger, *, settings: Settings | None = None) -> tuple[list[str], list[str]]:
    """Undo every entry, newest first; return (undone or cleared, failed) descriptions."""
    result = undo_entries(ledger, ledger.entries(), settings=settings)
    return result.undone + result.cleared, result.failed
