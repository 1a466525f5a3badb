"""The fault ledger: every fault is written here before it is applied and removed once undone.

A run killed with SIGKILL leaves its entries behind; ``gameday abort`` undoes them, and a new run
refuses to start while any remain. Besides faults, a run records the load generator it started
(``kind="load"``: the locust process groups), so that ``abort`` and ``halt`` end it too, and every page it
opened (``kind="page"``, :mod:`gameday.notify.pages`: its undo is the resolve).

An entry's ``state`` says how far it got: ``injecting`` (written, nothing applied yet: it provably
changed nothing), ``applying`` (the change started), ``injected``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gameday.errors import SafetyError
from gameday.state import read_json, write_json_atomic


@dataclass
class LedgerEntry:
    """One fault, from just before it is applied until it is undone."""

    fault: str
    params: dict[str, Any]
    target: dict[str, Any]  # enough to rebuild the target in another process (see targets.from_identity)
    undo: dict[str, Any] = field(default_factory=dict)  # what the undo needs, captured before injecting
    state: str = "injecting"  # injecting -> applying -> injected; removed when undone
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_at: float = field(default_factory=time.time)
    owner_pid: int = field(default_factory=os.getpid)
    kind: str = "fault"  # "fault"; "load": a load generator's processes (params: pids); "page": an open page

    @property
    def changed_nothing(self) -> bool:
        """Written but never applied: the process ended (or failed) before its first change."""
        return self.kind == "fault" and self.state == "injecting"

    def describe(self) -> str:
        """One line for people."""
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        where = self.target.get("context") or self.target.get("kind", "?")
        return f"{self.fault}({params}) on {where} [{self.state}, id {self.id}]"


class Ledger:
    """A JSON file of entries, guarded by an exclusive lock for every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_suffix(".lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def locked_elsewhere(self) -> bool:
        """Whether another process holds the ledger's lock right now (``halt`` freezes runs: never one holding it,
        or its own undo would wait for ever)."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
        return False

    def entries(self) -> list[LedgerEntry]:
        """Every fault still recorded, oldest first."""
        return [LedgerEntry(**e) for e in read_json(self.path, [])]

    def add(self, entry: LedgerEntry) -> LedgerEntry:
        """Record a fault (before applying it)."""
        with self._locked():
            data = read_json(self.path, [])
            data.append(asdict(entry))
            write_json_atomic(self.path, data)
        return entry

    def update(self, entry_id: str, **changes: Any) -> None:
        """Change fields of an entry."""
        with self._locked():
            data = read_json(self.path, [])
            for item in data:
                if item["id"] == entry_id:
                    item.update(changes)
            write_json_atomic(self.path, data)

    def remove(self, entry_id: str) -> None:
        """Forget an entry (its fault is undone)."""
        with self._locked():
            data = [e for e in read_json(self.path, []) if e["id"] != entry_id]
            write_json_atomic(self.path, data)

    def applying(self, entry_id: str) -> None:
        """The change is about to start: from now on the entry may have changed something."""
        self.update(entry_id, state="applying")

    def own(self, pid: int | None = None) -> list[LedgerEntry]:
        """Entries written by one process (default: this one), oldest first: one run's faults."""
        pid = os.getpid() if pid is None else pid
        return [e for e in self.entries() if e.owner_pid == pid]

    def empty(self) -> bool:
        """Whether no fault is recorded."""
        return not self.entries()

    def ensure_empty(self) -> None:
        """Refuse to start while faults of an earlier run are still recorded (one line, how to clear it).

        Entries of this process are this run's own (its load generator), not an earlier run's.
        """
        left = [e for e in self.entries() if e.owner_pid != os.getpid()]
        if left:
            raise SafetyError(
                f"the ledger ({self.path}) still holds {len(left)} fault(s) from an earlier run "
                f"({'; '.join(e.describe() for e in left)}): run 'gameday abort' to undo them, then retry"
            )
