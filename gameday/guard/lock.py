"""One game day per target at a time: a lock record naming its holder (pid, host, since, command).

A second ``gameday run`` or ``chaos run`` refuses with one line naming the holder, or waits for it
with ``--wait``. A holder that died (same host, its pid gone or no longer a gameday process) loses
the lock to the next run, which says so. A holder on another host cannot be checked from here: on the local
target the lock stays until that run ends or someone runs ``gameday halt`` (which clears it).

Where the records need renewal (``records.lease_s``: the kubernetes target's Lease), the holder keeps a
thread (:class:`Keepalive`) that renews the lock and this process's ledger entries every third of ``lease_s``, so a
holder that died anywhere loses the lock ``lease_s`` after its last renewal, and its faults become the reaper's
(``gameday abort --expired``). The same thread watches the halt record every :data:`HALT_POLL_S` and calls the
holder's ``on_halt`` once when one appears: ``gameday halt`` on another machine cannot signal this process, so the
run stops itself (within 2 s of the halt: a poll, then the run's own SIGTERM path).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gameday.errors import SafetyError
from gameday.guard.records import Records
from gameday.ledger import run_id

LOCK = "lock"
HALT = "halt"  # the halt record's name (gameday.guard.halt, which imports this module)
EXIT_LOCKED = 7  # documented in README "Exit codes"
HALT_POLL_S = 0.25  # how often a renewing holder reads the halt record (the stop conditions' tick): within 2 s


class Locked(SafetyError):
    """Another game day holds the target."""

    exit_code = EXIT_LOCKED


def describe_holder(holder: dict[str, Any]) -> str:
    """``pid 123 on host since 17:02:03 (gameday run ...)``."""
    since = datetime.fromtimestamp(float(holder.get("since", 0))).strftime("%Y-%m-%d %H:%M:%S")
    return (f"pid {holder.get('pid')} on {holder.get('host')} since {since} "
            f"({holder.get('command') or 'gameday'})")


def is_gameday_process(pid: int) -> bool:
    """Whether ``pid`` runs and is a gameday command (a recycled pid is some other program)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and any(a.endswith((b"gameday", b"gameday.cli", b"gameday/cli.py")) for a in argv)


def lease_expired(holder: dict[str, Any], now: float | None = None) -> bool:
    """The holder renews its lock (a Lease) and has not for longer than the lease: it died, wherever it ran."""
    renewed, lease_s = holder.get("renewed"), holder.get("lease_s")
    return bool(renewed and lease_s) and float(renewed) + float(lease_s) < (time.time() if now is None else now)


def holder_alive(holder: dict[str, Any]) -> bool:
    """Whether the holder still runs: not when its lease expired; assumed so while it is fresh on another host (it
    cannot be checked from here)."""
    if lease_expired(holder):
        return False
    if holder.get("host") != socket.gethostname():
        return True
    pid = int(holder.get("pid") or 0)
    return pid == os.getpid() or is_gameday_process(pid)


@dataclass
class GameDayLock:
    """Held for the length of one game day; released on every way out (``with`` block)."""

    records: Records
    command: str = ""
    wait_s: float = 0.0  # > 0: wait up to this long for the holder to finish
    note: str = ""  # set when a dead holder's lock was taken over
    on_halt: Callable[[dict[str, Any]], None] | None = None  # renewing records: called once when a halt appears
    _mine: dict[str, Any] | None = None
    _keepalive: Keepalive | None = field(default=None, repr=False)

    def acquire(self) -> GameDayLock:
        """Take the lock, take over a dead holder's, wait (``wait_s``) or refuse naming the holder."""
        now = time.time()
        mine: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname(), "since": now,
                                "command": self.command or " ".join(["gameday", *sys.argv[1:]])[:200]}
        if self.records.lease_s is not None:
            mine.update(renewed=now, lease_s=self.records.lease_s, run_id=run_id())
        deadline = time.monotonic() + self.wait_s
        while True:
            if self.records.create(LOCK, mine):
                return self._held(mine)
            holder = self.records.read(LOCK)
            if holder is None:
                continue  # released between our two calls: try again
            if holder.get("pid") == mine["pid"] and holder.get("host") == mine["host"]:
                return self  # this process holds it already (a game day running its experiments): not ours to free
            if not holder_alive(holder):
                if self.records.swap(LOCK, holder, mine):
                    self.note = f"took over the lock of a game day that died: {describe_holder(holder)}"
                    return self._held(mine)
                continue
            if time.monotonic() >= deadline:
                waited = f" (waited {self.wait_s:.0f}s)" if self.wait_s else ""
                raise Locked(f"another game day holds this target ({self.records.where_of(LOCK)}): "
                             f"{describe_holder(holder)}{waited}; wait for it (--wait SECONDS), or stop it "
                             "with 'gameday halt'")
            time.sleep(0.5)  # poll the holder

    def _held(self, mine: dict[str, Any]) -> GameDayLock:
        self._mine = mine
        if self.records.lease_s is not None:
            self._keepalive = Keepalive(self).start()
        return self

    def renew(self) -> bool:
        """Push the lock's expiry back (the keepalive's work); False when it is no longer ours (halted, cleared)."""
        if self._mine is None:
            return False
        renewed = {**self._mine, "renewed": time.time()}
        if not self.records.swap(LOCK, self._mine, renewed):
            return False
        self._mine = renewed
        return True

    def release(self) -> None:
        """Give the lock back (only if it is still ours)."""
        if self._keepalive is not None:
            self._keepalive.stop()
            self._keepalive = None
        if self._mine is not None:
            self.records.swap(LOCK, self._mine, None)
            self._mine = None

    def __enter__(self) -> GameDayLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _halting_here(record: dict[str, Any]) -> bool:
    """The halt runs on this host and is still going: it freezes and ends this process itself, in its own order
    (undo first, then SIGTERM with a grace); once it is over, a process still running ends itself."""
    host = str(record.get("by", "")).rpartition("@")[2]
    return host == socket.gethostname() and is_gameday_process(int(record.get("pid") or 0))


class Keepalive:
    """The holder's thread: renews the lock and this process's ledger entries every third of the lease, and reads
    the halt record every :data:`HALT_POLL_S` (see the module docstring). A renewal that fails (the API server did
    not answer) is tried again at the next poll: the lease leaves two more chances before it lapses."""

    def __init__(self, lock: GameDayLock) -> None:
        self.lock = lock
        self.every_s = float(lock.records.lease_s or 0) / 3
        self.halted: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gameday-lock-keepalive", daemon=True)

    def start(self) -> Keepalive:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(5)

    def _loop(self) -> None:
        ledger = self.lock.records.ledger()
        due = time.monotonic() + self.every_s
        failing = False
        while not self._stop.wait(min(HALT_POLL_S, self.every_s)):
            try:
                if self.lock.on_halt is not None and self.halted is None:
                    record = self.lock.records.read(HALT)
                    if record is not None and not _halting_here(record):
                        self.halted = record
                        self.lock.on_halt(record)
                if time.monotonic() >= due:
                    self.lock.renew()
                    ledger.renew()
                    due = time.monotonic() + self.every_s
                failing = False
            except Exception as exc:  # the API server did not answer: the next poll tries again (said once)
                if not failing:
                    print(f"gameday: warning: could not renew the lock or read the halt record: {exc}",
                          file=sys.stderr, flush=True)
                failing = True


def current_holder(records: Records) -> dict[str, Any] | None:
    """The lock's holder, if any."""
    return records.read(LOCK)


def clear(records: Records) -> dict[str, Any] | None:
    """Remove the lock whoever holds it (``gameday halt``); returns the holder it removed."""
    holder = records.read(LOCK)
    if holder is not None:
        records.swap(LOCK, holder, None)
    return holder
