"""exhaust-connections: PostgreSQL's max_connections reached; every new connection is refused "too many clients".

A holder process, detached from the run (it must outlive a one-shot ``gameday inject``), opens connections to the
database the way the service does (TCP, the service's user) until the server refuses the next one, and keeps them
open. With ``drop_sessions`` (the default) it then ends the service's open sessions, as a pooler restart or an idle
timeout would, and takes each slot they free before the service can: every new connection the service opens (its
readiness check, its pool) gets ``sorry, too many clients already``. Without, only new connections fail (pooled
ones keep working). Undo kills the holder (by its recorded pid, checked to
be the holder) and waits until PostgreSQL accepts a new connection again. The holder also exits by itself after
``hold_s`` seconds, so a fault nobody undoes cannot hold the database for ever.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from gameday import interrupts
from gameday.faults.base import DependencyFault, DependencyParams, Params
from gameday.runbooks.database_connection_issues import CONNECTIONS_EXHAUSTED
from gameday.runbooks.database_connection_issues.faults.postgres import (
    files,
    postgres_only,
    tcp_kwargs,
    wait_for_new_connection,
)
from gameday.targets.model import TargetError

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target

HOLDER = "gameday-connection-holder"  # its application_name and the mark in its command line
READY_TIMEOUT_S = 60.0
UNDO_TIMEOUT_S = 30.0

# The holder: connect until refused; with drop, end the other sessions on the service's database (they must
# reconnect, and find no slot: the holder takes each freed one first); say how many it holds; keep taking any slot
# that frees until killed or hold_s passed.
_HOLDER_CODE = """
import json, sys, time
import psycopg
mark, kwargs, hold_s, drop = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "drop"
held, why = [], ""
def fill():
    global why
    while True:
        try:
            held.append(psycopg.connect(**kwargs))
        except psycopg.OperationalError as exc:
            why = " ".join(str(exc).split())
            return
fill()
if held and drop:
    for _ in range(200):  # until no other session is left on the database (each round frees slots it takes)
        ended = held[0].execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            " AND datname = current_database() AND pid <> pg_backend_pid() AND application_name NOT LIKE %s",
            ["gameday-%"]).fetchone()[0]
        fill()
        if not ended:
            break
        time.sleep(0.05)
print(json.dumps({"held": len(held), "refused": why}), flush=True)
kwargs["connect_timeout"] = 1
end = time.monotonic() + hold_s
while time.monotonic() < end:
    try:
        held.append(psycopg.connect(**kwargs))
    except psycopg.OperationalError:
        time.sleep(0.05)
"""


class ExhaustParams(DependencyParams):
    dependency: str = Field("postgres", description="the PostgreSQL dependency of the profile")
    drop_sessions: bool = Field(True, description="end the service's open sessions too, so it must reconnect "
                                "(as a pooler restart or an idle timeout would); false: only new ones fail")
    hold_s: float = Field(900.0, gt=0, le=3600, description="the holder gives its connections back after this "
                                                            "long even if nobody undoes the fault")


class ExhaustConnections(DependencyFault):
    """Every connection slot taken: new connections refused ("too many clients"), pooled ones still work."""

    name = "exhaust-connections"
    description = "take every PostgreSQL connection slot (max_connections reached: new connections refused)"
    Params: ClassVar[type[Params]] = ExhaustParams

    def not_applicable(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> str | None:
        return postgres_only(self, params, profile, target_kind)

    def expected_verdict(self, params: dict[str, Any], profile: Profile, target_kind: str | None = None) -> str:
        return f"{CONNECTIONS_EXHAUSTED.key}:{params['dependency']}"

    def snapshot(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        return {"pidfile": str(_pidfile(target, params["dependency"]))}

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        dep = params["dependency"]
        kwargs = tcp_kwargs(target, dep, HOLDER)
        pidfile = _pidfile(target, dep)
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER_CODE, HOLDER, json.dumps(kwargs), str(params["hold_s"]),
             "drop" if params["drop_sessions"] else "keep"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            start_new_session=True)
        pidfile.write_text(str(holder.pid))
        line = _first_line(holder, READY_TIMEOUT_S)
        report = json.loads(line) if line else {}
        if not report.get("held") or "too many clients" not in str(report.get("refused", "")):
            raise TargetError(f"exhaust-connections: the holder did not fill {dep}'s connection slots "
                              f"({report or 'no answer'})")

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        pidfile = Path(saved.get("pidfile") or _pidfile(target, params["dependency"]))
        _kill_holder(pidfile)
        wait_for_new_connection(target, params["dependency"], UNDO_TIMEOUT_S)
        pidfile.unlink(missing_ok=True)


def _pidfile(target: Target, dependency: str) -> Path:
    return files(target, dependency) / f"{HOLDER}-{dependency}.pid"


def _first_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """The holder's report, or "" when it died or said nothing within ``timeout_s``."""
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            return line.strip()
        if proc.poll() is not None:
            return ""
        interrupts.pause(0.1)
    return ""


def _is_holder(pid: int) -> bool:
    try:
        return HOLDER.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _kill_holder(pidfile: Path) -> None:
    """SIGKILL the recorded holder (only if that pid is still the holder) and wait until it is gone."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    if not _is_holder(pid):
        return
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10.0
    while _is_holder(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # our child when inject ran in this process
        interrupts.pause(0.05)
