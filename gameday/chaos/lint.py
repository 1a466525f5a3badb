"""Load and check an experiment before anything runs: bad input is one clear line, and nothing is injected.

Beyond chaostoolkit's own validation, every fault and dependency that gameday's activities name is
checked against gameday's vocabulary, so a typo fails here rather than halfway through a run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gameday import faults
from gameday.errors import GamedayError, UsageError
from gameday.targets.base import DEPENDENCIES

EXTENSION_MODULES = ("gameday.chaos.actions", "gameday.chaos.probes")
EXPERIMENT_SUFFIXES = (".json", ".yaml", ".yml")


def experiments_dir() -> Path:
    """The experiments shipped with the project (``experiments/`` at the repository root)."""
    here = Path.cwd() / "experiments"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "experiments"


def available() -> list[Path]:
    """The shipped experiment files, by name."""
    folder = experiments_dir()
    return sorted(p for p in folder.glob("*") if p.suffix in EXPERIMENT_SUFFIXES) if folder.is_dir() else []


def resolve(name_or_path: str) -> Path:
    """A path as given, or a shipped experiment by name (``all-pods-down``); UsageError when neither."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in available():
        if candidate.stem == name_or_path or candidate.name == name_or_path:
            return candidate
    names = ", ".join(p.stem for p in available()) or "none found"
    raise UsageError(f"no experiment {name_or_path!r}: give a file, or one of: {names}")


def load(path: Path) -> dict[str, Any]:
    """Parse and validate an experiment file; any problem becomes one UsageError line."""
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.loader import load_experiment

    chaos_log = logging.getLogger("chaostoolkit")
    quiet, chaos_log.disabled = chaos_log.disabled, True  # chaoslib logs the same failure at length
    try:
        experiment = load_experiment(str(path))
        ensure_experiment_is_valid(experiment)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{path}: malformed experiment: {first}") from exc
    finally:
        chaos_log.disabled = quiet
    check_vocabulary(experiment, str(path))
    return experiment


def activities(experiment: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every activity of the experiment: steady-state probes, method, rollbacks."""
    yield from (experiment.get("steady-state-hypothesis") or {}).get("probes", [])
    yield from experiment.get("method", [])
    yield from experiment.get("rollbacks", [])


def check_vocabulary(experiment: dict[str, Any], where: str = "experiment") -> None:
    """The faults, parameters and dependencies named in gameday's activities must be known ones."""
    for activity in activities(experiment):
        provider = activity.get("provider") or {}
        if provider.get("type") != "python" or provider.get("module") not in EXTENSION_MODULES:
            continue
        func, args = provider.get("func"), provider.get("arguments") or {}
        try:
            _check(func, args)
        except GamedayError as exc:
            raise UsageError(f"{where}: activity {activity.get('name')!r}: {exc}") from exc


def _check(func: str | None, args: dict[str, Any]) -> None:
    if func == "inject_fault":
        if not isinstance(args.get("params", {}), dict):
            raise UsageError("params must be a mapping")
        faults.get_fault(str(args.get("fault"))).validate(dict(args.get("params") or {}))
    elif func == "undo_faults" and args.get("fault") is not None:
        faults.get_fault(str(args["fault"]))
    for key in ("name", "dependency"):
        if key in args and func in ("start_dependency", "degraded_but_serving"):
            _dependency(args[key])
    for name in args.get("expect_down") or []:
        _dependency(name)


def _dependency(name: Any) -> None:
    if name not in DEPENDENCIES:
        raise UsageError(f"unknown dependency {name!r}: expected one of {', '.join(DEPENDENCIES)}")
