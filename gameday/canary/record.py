"""A canary in the fault ledger: written before its first change, removed once promoted or rolled back.

The entry (``kind="canary"``) keeps what the target's canary needs to put the previous revision back
(:meth:`gameday.targets.canary.CanaryDriver.saved`), so that a canary interrupted by SIGINT, SIGTERM or SIGKILL is
undone by ``gameday abort`` or by the next ``gameday canary``, from another process. Its kind and its undo live in
:mod:`gameday.abort` (which undoes every kind of entry, and sits below the canary) and are re-exported here.
"""

from __future__ import annotations

from typing import Any

from gameday.abort import CANARY as CANARY
from gameday.abort import CANARY_UNDO_TIMEOUT_S as UNDO_TIMEOUT_S
from gameday.abort import undo_canary as undo
from gameday.guard.lock import is_gameday_process
from gameday.ledger import Ledger, LedgerEntry
from gameday.targets.base import Target

__all__ = ["CANARY", "UNDO_TIMEOUT_S", "canaries", "entry", "running", "undo"]


def entry(target: Target, version: str, saved: dict[str, Any]) -> LedgerEntry:
    """The ledger entry of a canary of ``version`` (not yet applied)."""
    return LedgerEntry(fault=CANARY, params={"version": version}, target=target.identity(), undo=saved, kind=CANARY)


def canaries(ledger: Ledger) -> list[LedgerEntry]:
    """The canaries the ledger records, oldest first."""
    return [e for e in ledger.entries() if e.kind == CANARY]


def running(found: LedgerEntry) -> bool:
    """Whether the process that wrote the entry still runs it (a dead one left it to be undone)."""
    return is_gameday_process(found.owner_pid)

