"""One game day per target at a time: a lock record naming its holder (pid, host, since, command).

A second ``gameday run`` or ``chaos run`` refuses with one line naming the holder, or waits for it
with ``--wait``. A holder that died (same host, its pid gone or no longer a gameday process) loses
the lock to the next run, which says so. A holder on another host cannot be checked from here: the
lock stays until that run ends or someone runs ``gameday halt`` (which clears it).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gameday.errors import SafetyError
from gameday.guard.records import Records

LOCK = "lock"
EXIT_LOCKED = 7  # documented in README "Exit codes"


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


def holder_alive(holder: dict[str, Any]) -> bool:
    """Whether the holder still runs (assumed so when it is on another host: it cannot be checked from here)."""
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
    _mine: dict[str, Any] | None = None

    def acquire(self) -> GameDayLock:
        """Take the lock, take over a dead holder's, wait (``wait_s``) or refuse naming the holder."""
        mine = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                "command": self.command or " ".join(["gameday", *sys.argv[1:]])[:200]}
        deadline = time.monotonic() + self.wait_s
        while True:
            if self.records.create(LOCK, mine):
                self._mine = mine
                return self
            holder = self.records.read(LOCK)
            if holder is None:
                continue  # released between our two calls: try again
            if holder.get("pid") == mine["pid"] and holder.get("host") == mine["host"]:
                return self  # this process holds it already (a game day running its experiments): not ours to free
            if not holder_alive(holder):
                if self.records.swap(LOCK, holder, mine):
                    self.note = f"took over the lock of a game day that died: {describe_holder(holder)}"
                    self._mine = mine
                    return self
                continue
            if time.monotonic() >= deadline:
                waited = f" (waited {self.wait_s:.0f}s)" if self.wait_s else ""
                raise Locked(f"another game day holds this target ({self.records.where}): "
                             f"{describe_holder(holder)}{waited}; wait for it (--wait SECONDS), or stop it "
                             "with 'gameday halt'")
            time.sleep(0.5)  # poll the holder

    def release(self) -> None:
        """Give the lock back (only if it is still ours)."""
        if self._mine is not None:
            self.records.swap(LOCK, self._mine, None)
            self._mine = None

    def __enter__(self) -> GameDayLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def current_holder(records: Records) -> dict[str, Any] | None:
    """The lock's holder, if any."""
    return records.read(LOCK)


def clear(records: Records) -> dict[str, Any] | None:
    """Remove the lock whoever holds it (``gameday halt``); returns the holder it removed."""
    holder = records.read(LOCK)
    if holder is not None:
        records.swap(LOCK, holder, None)
    return holder
