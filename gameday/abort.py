"""Undo whatever a killed run left in the ledger."""

from __future__ import annotations

from gameday import faults
from gameday.ledger import Ledger
from gameday.targets import from_identity


def abort_all(ledger: Ledger) -> tuple[list[str], list[str]]:
    """Undo every entry, newest first; return (undone, failed) descriptions."""
    undone: list[str] = []
    failed: list[str] = []
    for entry in reversed(ledger.entries()):
        try:
            target = from_identity(entry.target)
            faults.undo(target, ledger, entry)
            undone.append(entry.describe())
        except Exception as exc:  # keep going: every other fault still gets its undo
            failed.append(f"{entry.describe()}: {type(exc).__name__}: {exc}")
    return undone, failed
