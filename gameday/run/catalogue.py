"""The experiments a game day runs, with what gameday's extension block says about each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gameday.chaos import lint
from gameday.errors import UsageError


@dataclass(frozen=True)
class CatalogueEntry:
    """One experiment file and the facts the game day scores it against."""

    name: str
    path: Path
    title: str
    fault: str
    params: dict[str, Any]
    expects_outage: bool  # False: the service's Prevention keeps it serving (degraded)


def _extension(experiment: dict[str, Any]) -> dict[str, Any]:
    for ext in experiment.get("extensions") or []:
        if ext.get("name") == "gameday":
            return ext
    return {}


def _inject_arguments(experiment: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for activity in experiment.get("method") or []:
        provider = activity.get("provider") or {}
        if provider.get("func") == "inject_fault":
            args = provider.get("arguments") or {}
            return str(args.get("fault", "")), dict(args.get("params") or {})
    return "", {}


def entry(name_or_path: str) -> CatalogueEntry:
    """Load and check one experiment (UsageError, one line, when it is malformed)."""
    path = lint.resolve(name_or_path)
    experiment = lint.load(path)
    fault, params = _inject_arguments(experiment)
    ext = _extension(experiment)
    fault = ext.get("fault") or fault
    if not fault:
        raise UsageError(f"{path}: no gameday fault injected in its method (inject_fault)")
    return CatalogueEntry(
        name=path.stem,
        path=path,
        title=str(experiment.get("title", path.stem)),
        fault=fault,
        params=params,
        expects_outage=ext.get("symptoms", "outage") == "outage",
    )


def catalogue(names: list[str] | None = None) -> list[CatalogueEntry]:
    """The chosen experiments (every shipped one by default), all checked before anything runs."""
    chosen = names or [p.stem for p in lint.available()]
    if not chosen:
        raise UsageError(f"no experiments found in {lint.experiments_dir()}")
    return [entry(n) for n in chosen]
