"""The local stack's processes as /proc shows them (no tools needed): those started for a state directory (found by
the environment variable every one carries), those listening on its ports, and signals to them that never fail on a
process already gone. What ``up`` and ``down`` use to leave nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

from gameday.state import StateDir

STACK_ENV = "GAMEDAY_STACK"  # every process of a stack carries its state dir in this variable
_VARIABLE = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*=")


def stack_processes(state: StateDir) -> list[int]:
    """Pids of every live process started for this state directory (found by their environment)."""
    marker = f"{STACK_ENV}={state.root}".encode()
    own = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def listening_pids(ports: list[int]) -> list[int]:
    """Pids of the processes listening on these TCP ports of 127.0.0.1 (from /proc, no tools needed)."""
    wanted = {f"0100007F:{p:04X}" for p in ports}
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] in wanted and fields[3] == "0A":  # LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return []
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            found.add(int(entry.name))
    return sorted(found)


def lost_its_environment(pid: int) -> bool:
    """Whether the process wrote over its environment (Redis and PostgreSQL put their process title there): then
    the variable every stack process carries cannot be read, and only its port and program say it is ours. A
    process whose environment still reads as variables is a stranger if it lacks ours, whatever it runs (a Python
    server on a port a stopped stack used is not a replica). Unreadable (not ours to read): not ours either."""
    try:
        entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return not any(_VARIABLE.match(entry) for entry in entries)


def exe_path(pid: int) -> str:
    """The real path of the process's executable ("" when it is gone or not ours to read)."""
    try:
        return os.path.realpath(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def send_signal(pid: int, sig: signal.Signals) -> None:
    """Signal a process that may be gone already, or not ours."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def alive(pid: int) -> bool:
    """Whether the process is there and not a zombie."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: list[int], timeout: float) -> None:
    """Wait (at most ``timeout``) until none of the processes is alive."""
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)  # poll
