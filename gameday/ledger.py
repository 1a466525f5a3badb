"""The fault ledger: every fault is written here before it is applied and removed once undone.

A run killed with SIGKILL leaves its entries behind; ``gameday abort`` undoes them, and a new run
refuses to start while any remain. Besides faults, a run records the load generator it started
(``kind="load"``: the locust process groups), so that ``abort`` and ``halt`` end it too, and every page it
opened (``kind="page"``, :mod:`gameday.notify.pages`: its undo is the resolve).

An entry's ``state`` says how far it got: ``injecting`` (written, nothing applied yet: it provably
changed nothing), ``applying`` (the change started), ``injected``.

Where the entries live is the target's choice (:func:`gameday.targets.ledger_for`): the local target keeps a JSON
file in the state directory (:class:`FileStore`); the kubernetes target keeps one object per entry in the namespace
(:mod:`gameday.targets.kubernetes.ledger_store`), so that any machine with the kubeconfig sees and undoes what a
dead runner left. There every entry also carries an expiry that its owner renews while it runs: an entry whose
expiry passed belongs to a runner that died, and ``gameday abort --expired`` (the reaper) claims and undoes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from gameday.errors import SafetyError
from gameday.state import read_json, write_json_atomic

_RUN = {"id": uuid.uuid4().hex[:12]}  # this process's run id until a game day names its own (set_run_id)


def set_run_id(run_id: str) -> None:
    """Name the run that owns the entries this process writes from now on (a game day's id)."""
    _RUN["id"] = run_id


def run_id() -> str:
    """The run id entries written by this process carry."""
    return _RUN["id"]


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
    owner_host: str = field(default_factory=socket.gethostname)
    run_id: str = field(default_factory=run_id)
    expires_at: float | None = None  # None: never (the local target); else renewed by its owner while it runs

    @classmethod
    def of(cls, item: dict[str, Any]) -> LedgerEntry:
        """An entry as stored; fields this version does not know (written by a newer gameday on another machine, the
        cluster's ledger is shared) are ignored rather than making the whole ledger unreadable to ``abort``."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in item.items() if k in known})

    @property
    def changed_nothing(self) -> bool:
        """Written but never applied: the process ended (or failed) before its first change."""
        return self.kind == "fault" and self.state == "injecting"

    def expired(self, now: float | None = None) -> bool:
        """Its owner stopped renewing it: a runner that died (never for an entry without an expiry)."""
        return self.expires_at is not None and self.expires_at < (time.time() if now is None else now)

    def owned_by(self, pid: int, host: str) -> bool:
        """Written by process ``pid`` on ``host``."""
        return self.owner_pid == pid and self.owner_host == host

    def describe(self) -> str:
        """One line for people."""
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        where = self.target.get("context") or self.target.get("kind", "?")
        return f"{self.fault}({params}) on {where} [{self.state}, id {self.id}]"


class LedgerStore(Protocol):
    """Where entries live (as plain dicts): every change is atomic against every other writer."""

    where: str
    expiry_s: float | None  # entries expire this long after they are written or renewed; None: never

    def load(self) -> list[dict[str, Any]]:
        """Every entry, oldest first."""

    def add(self, item: dict[str, Any]) -> None:
        """Record a new entry."""

    def update(self, entry_id: str, changes: dict[str, Any],
               only_if: Callable[[dict[str, Any]], bool] | None = None) -> bool:
        """Change fields of an entry (when ``only_if`` holds for it as stored now); False if not changed."""

    def remove(self, entry_id: str) -> None:
        """Forget an entry (a missing one is no error: someone else undid it)."""

    def locked_elsewhere(self) -> bool:
        """Whether another process on this host holds the store's lock right now."""


class FileStore:
    """A JSON file of entries, guarded by an exclusive lock for every change."""

    expiry_s: float | None = None

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
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

    def load(self) -> list[dict[str, Any]]:
        return list(read_json(self.path, []))

    def add(self, item: dict[str, Any]) -> None:
        with self._locked():
            data = read_json(self.path, [])
            data.append(item)
            write_json_atomic(self.path, data)

    def update(self, entry_id: str, changes: dict[str, Any],
               only_if: Callable[[dict[str, Any]], bool] | None = None) -> bool:
        changed = False
        with self._locked():
            data = read_json(self.path, [])
            for item in data:
                if item["id"] == entry_id and (only_if is None or only_if(item)):
                    item.update(changes)
                    changed = True
            write_json_atomic(self.path, data)
        return changed

    def remove(self, entry_id: str) -> None:
        with self._locked():
            data = [e for e in read_json(self.path, []) if e["id"] != entry_id]
            write_json_atomic(self.path, data)


class MergedStore:
    """Several stores read as one: new entries go to the first; a change goes to the store that holds the entry.

    The kubernetes target's ledger is the cluster's, then this machine's file: what is still kept there (the
    canary's entries, entries written before the ledger moved into the cluster) is seen and undone too."""

    def __init__(self, stores: list[LedgerStore]) -> None:
        self.stores = stores
        self.expiry_s = stores[0].expiry_s
        self.where = " and ".join(s.where for s in stores)

    def load(self) -> list[dict[str, Any]]:
        items = [item for store in self.stores for item in store.load()]
        return sorted(items, key=lambda i: (i.get("created_at", 0), i["id"]))

    def add(self, item: dict[str, Any]) -> None:
        self.stores[0].add(item)

    def update(self, entry_id: str, changes: dict[str, Any],
               only_if: Callable[[dict[str, Any]], bool] | None = None) -> bool:
        return any([store.update(entry_id, changes, only_if) for store in self._holding(entry_id)])

    def remove(self, entry_id: str) -> None:
        for store in self._holding(entry_id):
            store.remove(entry_id)

    def locked_elsewhere(self) -> bool:
        return any(store.locked_elsewhere() for store in self.stores)

    def _holding(self, entry_id: str) -> list[LedgerStore]:
        held = [store for store in self.stores[1:] if any(i["id"] == entry_id for i in store.load())]
        return held or self.stores[:1]


class Ledger:
    """The entries of one target, in the store the target chose (a path: the local JSON file)."""

    def __init__(self, store: Path | LedgerStore) -> None:
        self.store: LedgerStore = FileStore(store) if isinstance(store, Path) else store
        self.path: Path | None = store if isinstance(store, Path) else None

    @property
    def where(self) -> str:
        return self.store.where

    def locked_elsewhere(self) -> bool:
        """Whether another process holds the ledger's lock right now (``halt`` freezes runs: never one holding it,
        or its own undo would wait for ever)."""
        return self.store.locked_elsewhere()

    def entries(self) -> list[LedgerEntry]:
        """Every fault still recorded, oldest first."""
        return [LedgerEntry.of(e) for e in self.store.load()]

    def add(self, entry: LedgerEntry) -> LedgerEntry:
        """Record a fault (before applying it); where entries expire, it expires one lease from now."""
        if self.store.expiry_s is not None and entry.expires_at is None:
            entry.expires_at = time.time() + self.store.expiry_s
        self.store.add(asdict(entry))
        return entry

    def update(self, entry_id: str, **changes: Any) -> None:
        """Change fields of an entry."""
        self.store.update(entry_id, changes)

    def remove(self, entry_id: str) -> None:
        """Forget an entry (its fault is undone)."""
        self.store.remove(entry_id)

    def applying(self, entry_id: str) -> None:
        """The change is about to start: from now on the entry may have changed something."""
        self.update(entry_id, state="applying")

    def own(self, pid: int | None = None) -> list[LedgerEntry]:
        """Entries written by one process of this host (default: this one), oldest first: one run's faults."""
        pid = os.getpid() if pid is None else pid
        host = socket.gethostname()
        return [e for e in self.entries() if e.owned_by(pid, host)]

    def empty(self) -> bool:
        """Whether no fault is recorded."""
        return not self.entries()

    def ensure_empty(self) -> None:
        """Refuse to start while faults of an earlier run are still recorded (one line, how to clear it).

        Entries of this process are this run's own (its load generator), not an earlier run's.
        """
        pid, host = os.getpid(), socket.gethostname()
        left = [e for e in self.entries() if not e.owned_by(pid, host)]
        if left:
            raise SafetyError(
                f"the ledger ({self.where}) still holds {len(left)} fault(s) from an earlier run "
                f"({'; '.join(e.describe() for e in left)}): run 'gameday abort' to undo them, then retry"
            )

    def renew(self) -> int:
        """Push back the expiry of this process's entries by one lease (a live run's heartbeat); returns how many.

        An entry someone else claimed meanwhile (the reaper, after this process stalled past its expiry) is left
        alone: it is theirs to undo now."""
        if self.store.expiry_s is None:
            return 0
        pid, host = os.getpid(), socket.gethostname()
        expires = time.time() + self.store.expiry_s
        def still_mine(item: dict[str, Any]) -> bool:
            return (item.get("owner_pid"), item.get("owner_host")) == (pid, host)

        mine = [e for e in self.entries() if e.owned_by(pid, host)]
        return sum(self.store.update(e.id, {"expires_at": expires}, only_if=still_mine) for e in mine)

    def claim_expired(self, now: float | None = None) -> list[LedgerEntry]:
        """Take over every entry whose expiry passed (its runner died): each becomes this process's, with a fresh
        expiry, in one compare-and-swap, so that a runner renewing at the same moment keeps its entry and two
        reapers never undo the same fault at once. Returns the entries claimed (live ones are untouched)."""
        if self.store.expiry_s is None:
            return []
        at = time.time() if now is None else now
        me = {"owner_pid": os.getpid(), "owner_host": socket.gethostname(), "run_id": run_id(),
              "expires_at": at + self.store.expiry_s}
        claimed = []
        for entry in self.entries():
            if entry.expired(at) and self.store.update(
                    entry.id, me, only_if=lambda item: LedgerEntry.of(item).expired(at)):
                claimed.append(LedgerEntry.of({**asdict(entry), **me}))
        return claimed

