"""The experiments a game day runs, with what the fault registry and the profile say about each.

An experiment states its fault once, in its method's ``inject_fault``; what that fault should do to this service
(an outage or not, the diagnosis it should get) comes from the fault itself and the service profile. An experiment
that does not apply to the service (kafka-down where the profile has no Kafka) is in the catalogue with the reason
it is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gameday import faults
from gameday.chaos import lint
from gameday.errors import UsageError

if TYPE_CHECKING:
    from gameday.profile import Profile


@dataclass(frozen=True)
class CatalogueEntry:
    """One experiment file and the facts the game day scores it against."""

    name: str
    path: Path
    title: str
    fault: str
    params: dict[str, Any]
    expects_outage: bool  # False: the service keeps serving (degraded), as the profile says
    expected_verdict: str | None = None  # the diagnosis it should get (None when skipped)
    also_accepted: tuple[str, ...] = ()  # diagnoses right besides the expected one (Fault.also_accepted)
    skip: str | None = None  # why it does not apply to this service on this target


def entry(name_or_path: str, profile: Profile, target_kind: str | None) -> CatalogueEntry:
    """Load and check one experiment (UsageError, one line, when it is malformed)."""
    path = lint.resolve(name_or_path, profile.runbook)
    experiment = lint.load(path)
    injected = lint.injected(experiment)
    if not injected:
        raise UsageError(f"{path}: no gameday fault injected in its method (inject_fault)")
    name, params = injected[0]
    title = str(experiment.get("title", path.stem))
    skip = lint.not_applicable(experiment, profile, target_kind)
    if skip:
        return CatalogueEntry(path.stem, path, title, name, params, expects_outage=False, skip=skip)
    fault = faults.get_fault(name)
    clean = fault.validate(params, context=faults.FaultContext(profile, target_kind))
    return CatalogueEntry(path.stem, path, title, name, params, expects_outage=fault.outage(clean, profile),
                          expected_verdict=fault.expected_verdict(clean, profile, target_kind),
                          also_accepted=fault.also_accepted(clean, profile, target_kind))


def catalogue(names: list[str] | None, profile: Profile, target_kind: str | None) -> list[CatalogueEntry]:
    """The chosen experiments (every one of the profile's runbook by default), all checked before anything runs."""
    chosen = names or [p.stem for p in lint.available(profile.runbook)]
    if not chosen:
        raise UsageError(f"no experiments found in {lint.experiments_dir(profile.runbook)}")
    return [entry(n, profile, target_kind) for n in chosen]
