"""One fault vocabulary: each fault describes itself (name, typed parameters, outage or not, expected verdict),
registers itself, and has an inject and an undo; the ledger records it.

One module per fault in this package, and in each runbook package's ``faults`` (:mod:`gameday.runbooks`: a fault
only one runbook needs lives in its folder); importing the package imports every such module (the way krkn walks
its scenario plugins), and each :class:`~gameday.faults.base.Fault` subclass with a ``name`` registers itself in
:data:`FAULTS`. The chaos actions, the game day, ``gameday inject`` and ``gameday abort`` all go through
:func:`get_fault`, :func:`inject` and :func:`undo`. Undo is idempotent: it first looks whether the runbook's
resolution already repaired things.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gameday import interrupts, runbooks
from gameday.errors import UsageError
from gameday.faults.base import FAULTS, Fault, FaultContext, actionable_dependencies
from gameday.ledger import Ledger, LedgerEntry
from gameday.safety import guard, settings_of
from gameday.targets.model import NothingChanged

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target

__all__ = ["FAULTS", "Fault", "FaultContext", "LedgerEntry", "actionable_dependencies", "discover", "expected_to_fire",
           "get_fault", "inject", "undo"]


def discover() -> dict[str, Fault]:
    """Import every module of the package, then every runbook package's faults (each fault registers itself when
    its module is imported)."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
    runbooks.modules("faults")
    return FAULTS


discover()


def get_fault(name: str) -> Fault:
    """A fault by name, or one clear line listing the known ones."""
    try:
        return FAULTS[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown fault {name!r}: expected one of {', '.join(sorted(FAULTS))}") from None


def inject(target: Target, ledger: Ledger, name: str, params: dict[str, Any] | None = None,
           profile: Profile | None = None) -> LedgerEntry:
    """Check the parameters, check safety, record in the ledger, then apply; on failure undo at once.

    Nothing is written to the ledger until the parameters passed their schema: against the profile (``profile``,
    default: the one of the settings the target was built with) before any call to the target, then against the
    target (named replicas exist).
    """
    fault = get_fault(name)
    if profile is None:
        profile = settings_of(target).service
    raw = params if params is not None else {}
    kind = str(target.identity().get("kind"))
    fault.validate(raw, context=FaultContext(profile, kind))
    guard(target)
    replicas = [r.name for r in target.replicas()] if isinstance(raw, dict) and raw.get("replicas") else None
    clean = fault.validate(raw, context=FaultContext(profile, kind, replicas))
    saved = fault.snapshot(target, clean)
    entry = ledger.add(LedgerEntry(fault=name, params=clean, target=target.identity(), undo=saved))
    try:
        ledger.applying(entry.id)
        fault.inject(target, clean)
    except NothingChanged:
        ledger.remove(entry.id)  # refused before its first change: nothing to undo, nothing to keep
        raise
    except BaseException as exc:
        try:
            with interrupts.undoing():  # its waits must not raise the interrupt it is undoing for
                undo(target, ledger, entry)
        except Exception as failed:
            if isinstance(exc, Exception):
                raise
            # an interrupt stays one (never an ordinary failure the caller would go on after); the entry stays
            # in the ledger for the caller's cleanup or 'gameday abort'
            raise exc from failed
        raise
    ledger.update(entry.id, state="injected")
    entry.state = "injected"
    return entry


def expected_to_fire(fault_name: str, params: dict[str, Any] | None, profile: Profile,
                     replicas: Sequence[str] | None = None) -> bool:
    """Whether the fault must page (the profile's endpoint-down alert): a full outage of the service
    (``Fault.outage``: every replica frozen, the known-bad release, a dependency the profile says it cannot work
    without ...) that lasts (``Fault.pages``). ``replicas`` (every replica's name) lets a fault that names replicas
    count as "all of them". Bad input (an unknown fault or dependency) raises ``UsageError``.
    """
    fault = get_fault(fault_name)
    clean = fault.validate(dict(params or {}), profile)
    return fault.pages(clean, profile, list(replicas) if replicas is not None else None)


def undo(target: Target, ledger: Ledger, entry: LedgerEntry) -> None:
    """Undo one recorded fault and remove it from the ledger."""
    get_fault(entry.fault).undo(target, entry.params, entry.undo)
    ledger.remove(entry.id)
