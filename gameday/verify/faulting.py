"""Faults for the length of a block, through the one fault vocabulary and the ledger, undone whatever happens.

``with injected(target, ledger, "stop-dependency", {"dependency": "postgres"}): ...`` records the fault in
the ledger before applying it (``gameday.faults.inject``) and undoes it on the way out, exception or not.
A fault whose inject is a loop (``kill-replicas`` with ``rounds``: every replica killed again and again,
so they stay down) can run in the background while the block observes; its undo waits for the loop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gameday import faults
from gameday.ledger import Ledger, LedgerEntry
from gameday.targets.base import Target


class FaultThread(threading.Thread):
    """Runs ``faults.inject`` in the background; keeps the ledger entry or the exception."""

    def __init__(self, target: Target, ledger: Ledger, name: str, params: dict[str, Any]) -> None:
        super().__init__(name=f"fault-{name}", daemon=True)
        self.target, self.ledger, self.fault, self.params = target, ledger, name, params
        self.entry: LedgerEntry | None = None
        self.error: BaseException | None = None
        self.applied = threading.Event()

    def run(self) -> None:
        try:
            self.entry = faults.inject(self.target, self.ledger, self.fault, self.params)
        except BaseException as exc:  # inject has undone what it did; the caller re-raises
            self.error = exc
        finally:
            self.applied.set()


def kill_loop_params(seconds: float, interval: float = 0.3) -> dict[str, Any]:
    """``kill-replicas`` parameters that keep every replica down for about ``seconds``."""
    rounds = max(1, min(100, round(seconds / interval) + 1))
    return {"rounds": rounds, "interval": interval}


@contextmanager
def injected(target: Target, ledger: Ledger, name: str, params: dict[str, Any] | None = None,
             background: bool = False) -> Iterator[None]:
    """Inject a fault for the block; undo it on exit (after a background inject loop has ended)."""
    params = dict(params or {})
    if not background:
        entry = faults.inject(target, ledger, name, params)
        try:
            yield
        finally:
            faults.undo(target, ledger, entry)
        return
    thread = FaultThread(target, ledger, name, params)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=120)
        _undo_recorded(target, ledger, thread)
    if thread.error is not None:
        raise thread.error


def _undo_recorded(target: Target, ledger: Ledger, thread: FaultThread) -> None:
    if thread.entry is not None:
        faults.undo(target, ledger, thread.entry)
        return
    # still looping after the join timeout (or died): undo whatever this thread recorded in the ledger
    for entry in ledger.entries():
        if entry.fault == thread.fault and entry.params == faults.get_fault(thread.fault).validate(thread.params):
            faults.undo(target, ledger, entry)
