"""Events of the local target: what gameday did (source ``gameday``), plus what supervisor saw happen to processes
(source ``supervisord``: the platform's own record, what the diagnosis reads)."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

from gameday import reasons
from gameday.state import StateDir
from gameday.targets.model import Event

GAMEDAY = "gameday"
SUPERVISORD = "supervisord"
_SUPERVISOR_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\w+) (.*)$")
_PATTERNS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"^spawned: '([\w-]+)' with pid (\d+)"), "Normal", reasons.STARTED),
    # killed from outside (gameday, a person, the OOM killer): a kill, not just a crash
    (re.compile(r"^exited: ([\w-]+) \((terminated by SIGKILL); not expected\)"), "Warning", reasons.KILLED),
    (re.compile(r"^exited: ([\w-]+) \((.*); not expected\)"), "Warning", reasons.BACK_OFF),
    (re.compile(r"^exited: ([\w-]+) \((.*); expected\)"), "Normal", reasons.EXITED),
    (re.compile(r"^gave up: ([\w-]+) entered FATAL state"), "Warning", reasons.CRASH_LOOP_BACK_OFF),
    (re.compile(r"^stopped: ([\w-]+) \((.*)\)"), "Normal", reasons.KILLING),
]


class EventLog:
    """Append-only events file plus supervisor's log, merged by time."""

    def __init__(self, state: StateDir) -> None:
        self.path = state.path("events.jsonl")
        self.supervisor_log = state.path("logs", "supervisord.log")

    def record(self, type_: str, reason: str, obj: str, message: str) -> Event:
        """Append an event (gameday's: the diagnosis does not read them)."""
        event = Event(time.time(), type_, reason, obj, message, GAMEDAY)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps(event.__dict__) + "\n")
        return event

    def reset(self) -> None:
        """Forget old events (a new stack)."""
        self.path.unlink(missing_ok=True)

    def since(self, start: float) -> list[Event]:
        """Every event at or after ``start``, oldest first."""
        events = [e for e in self._recorded() if e.timestamp >= start]
        events += [e for e in self._supervisor() if e.timestamp >= start]
        return sorted(events, key=lambda e: e.timestamp)

    def _recorded(self) -> list[Event]:
        if not self.path.exists():
            return []
        return [Event(**{"source": GAMEDAY, **json.loads(line)})  # only gameday writes this file
                for line in self.path.read_text().splitlines() if line.strip()]

    def _supervisor(self) -> list[Event]:
        return list(supervisor_events(self.supervisor_log))


def supervisor_events(path: Path) -> list[Event]:
    """Process lifecycle events parsed from supervisord's log."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        m = _SUPERVISOR_LINE.match(line)
        if not m:
            continue
        ts = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        text = m.group(3)
        for pattern, type_, reason in _PATTERNS:
            pm = pattern.match(text)
            if pm:
                out.append(Event(ts, type_, reason, pm.group(1), text, SUPERVISORD))
                break
    return out
