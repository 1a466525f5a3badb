"""Load and check an experiment before anything runs: bad input is one clear line, and nothing is injected.

Beyond chaostoolkit's own validation, every fault that gameday's activities name is checked against the fault
registry and its typed parameters, so a typo fails here rather than halfway through a run. What is loaded is the
effective experiment (:func:`gameday.chaos.defaults.effective`: the runbook's steady state and rollbacks filled in
where the file leaves them to it), the same one chaostoolkit runs. :func:`findings` is the lint of a file as written:
it must take its runbook's defaults (declare the control) rather than copy them, and name its fault once. Whether an
experiment
applies to the service at all (kafka-down where the profile has no Kafka) is :func:`not_applicable`: such an
experiment is skipped with that reason, not failed. Shipped experiments live at the top level, by runbook
(``experiments/<runbook>/``); a bare name is looked up in the runbook the caller names (the profile's, by default).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.loader import load_experiment

from gameday import faults
from gameday.chaos import defaults
from gameday.chaos.promises import unpromised
from gameday.chaos.steady import runbook_of
from gameday.errors import GamedayError, UsageError
from gameday.faults.network import NetworkFault
from gameday.runbook.package import find
from gameday.targets.kubernetes.chaosmesh import engine_missing

if TYPE_CHECKING:
    from gameday.config import Settings
    from gameday.profile import Profile

EXTENSION_MODULES = ("gameday.chaos.actions", "gameday.chaos.probes", "gameday.chaos.steady", "gameday.chaos.outcome")
# activities that name a dependency, and the argument that names it
DEPENDENCY_ARGUMENTS = {"start_dependency": "name", "degraded_but_serving": "dependency",
                        "dependency_loss_observed": "dependency", "restore_dependency_link": "dependency",
                        "breaker_fails_fast": "dependency", "retries_absorb_resets": "dependency",
                        "fallback_as_promised": "dependency", "recovers_within_slo": "dependency"}
# probes that check a promise of the profile (gameday.chaos.promises): where it is not made, the experiment is
# skipped with the finding (never run as a pass)
PROMISE_PROBES = {"breaker_fails_fast": "breaker", "retries_absorb_resets": "retries",
                  "fallback_as_promised": "fallback"}
# probes that drive the local target's fault proxy API while they measure: skipped elsewhere, with the reason
LOCAL_ONLY_PROBES = {"retries_absorb_resets": "it rolls the resets again through the local fault proxy's API, "
                                              "which Chaos Mesh has no counterpart for"}


def experiments_dir(runbook: str) -> Path:
    """The experiments of a runbook package (``experiments/<runbook>/``)."""
    return find(runbook).experiments_dir


def available(runbook: str) -> list[Path]:
    """The runbook's experiment files, by name."""
    return find(runbook).experiments()


def resolve(name_or_path: str, runbook: str) -> Path:
    """A path as given, or one of the runbook's experiments by name (``all-pods-down``); UsageError when neither."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    package = find(runbook)
    found = package.experiment(name_or_path)
    if found is None:
        names = ", ".join(p.stem for p in package.experiments()) or "none found"
        raise UsageError(f"no experiment {name_or_path!r}: give a file, or one of the {package.name} runbook's: "
                         f"{names}")
    return found


def read(path: Path) -> dict[str, Any]:
    """The experiment file as written (JSON or YAML, chaostoolkit's loader); one UsageError line when unreadable."""
    return _quietly(path, lambda: load_experiment(str(path)))


def load(path: Path) -> dict[str, Any]:
    """The effective experiment (its runbook's defaults filled in), validated by chaostoolkit and against gameday's
    vocabulary; any problem becomes one UsageError line."""
    written = read(path)
    if not isinstance(written, dict):
        raise UsageError(f"{path}: malformed experiment: not a mapping")
    try:
        experiment = defaults.effective(written)
    except GamedayError as exc:
        raise UsageError(f"{path}: {exc}") from exc
    _quietly(path, lambda: ensure_experiment_is_valid(experiment))
    check_vocabulary(experiment, str(path))
    named = runbook_of(experiment.get("configuration"))
    if named:
        find(named)  # the runbook it names must exist: its steady state comes from there
    return experiment


def _quietly(path: Path, call: Any) -> Any:
    """chaoslib's call, its failure as one line (chaoslib logs the same failure at length: silenced)."""
    chaos_log = logging.getLogger("chaostoolkit")
    quiet, chaos_log.disabled = chaos_log.disabled, True
    try:
        return call()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{path}: malformed experiment: {first}") from exc
    finally:
        chaos_log.disabled = quiet


def findings(path: Path) -> list[str]:
    """What is wrong with an experiment as written, one line each (none: it is clean): it must declare the
    runbook-defaults control and leave the runbook's steady state and rollbacks to it rather than copy them, and
    name its fault once (the ``fault`` argument of its ``inject_fault``; not again in activity names, title,
    description, tags or other arguments)."""
    load(path)  # a malformed file, or one whose defaults cannot be had, is one UsageError line first
    written = read(path)
    found = []
    if not defaults.declares_control(written):
        found.append(f"{path}: no {defaults.CONTROL_NAME} control: declare {json.dumps(defaults.CONTROL)} so that its "
                     "steady state and rollbacks come from its runbook")
    else:
        given = defaults.runbook_named(written).experiment_defaults.model_dump(by_alias=True)
        found += [f"{path}: {key} copies its runbook's: leave it out" for key in defaults.FILLED
                  if key in written and written[key] == given.get(key)]
    for fault in dict.fromkeys(f for f, _ in injected(written)):
        found += [f"{path}: names its fault {fault!r} again in {where} (the inject_fault's fault argument is the one "
                  "place)" for where in _named_again(written, fault, path.stem)]
    return found


def _named_again(experiment: dict[str, Any], fault: str, name: str) -> list[str]:
    """Where besides its ``inject_fault``'s ``fault`` argument an experiment names ``fault``."""
    word = re.compile(rf"(?<![\w-]){re.escape(fault)}(?![\w-])")
    places = [key for key in ("title", "description") if word.search(str(experiment.get(key) or ""))]
    places += [f"tag {tag!r}" for tag in experiment.get("tags") or [] if str(tag) != name and fault in str(tag)]
    for activity in activities(experiment):
        provider = activity.get("provider") or {}
        if fault in str(activity.get("name", "")):
            places.append(f"activity name {activity.get('name')!r}")
        if provider.get("func") != "inject_fault" and (provider.get("arguments") or {}).get("fault") == fault:
            places.append(f"activity {activity.get('name')!r}'s arguments")
    return places


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
    for name in _dependencies_named(func, args):
        if not isinstance(name, str) or not name:
            raise UsageError(f"a dependency must be named by a non-empty string, got {name!r}")


def _dependencies_named(func: str | None, args: dict[str, Any]) -> list[Any]:
    named = [args[DEPENDENCY_ARGUMENTS[func]]] if func in DEPENDENCY_ARGUMENTS and DEPENDENCY_ARGUMENTS[func] in args \
        else []
    return named + list(args.get("expect_down") or [])


def injected(experiment: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(fault, parameters) of every ``inject_fault`` of the method, in order: where an experiment states its fault."""
    found = []
    for activity in experiment.get("method") or []:
        provider = activity.get("provider") or {}
        if provider.get("module") == "gameday.chaos.actions" and provider.get("func") == "inject_fault":
            args = provider.get("arguments") or {}
            found.append((str(args.get("fault", "")), dict(args.get("params") or {})))
    return found


def not_applicable(experiment: dict[str, Any], profile: Profile, target_kind: str | None,
                   settings: Settings | None = None) -> str | None:
    """Why the experiment does not apply to this service on this target (it is skipped, not failed), or None.

    An experiment does not apply when a fault it injects says so (a dependency the profile does not have or the
    target cannot act on, a known-bad release the profile does not name), when the cluster ``settings`` name has
    nothing to apply a network fault with (neither Chaos Mesh nor the profile's Toxiproxy), or when an activity
    names a dependency the profile does not have.
    """
    for fault, params in injected(experiment):
        reason = faults.get_fault(fault).not_applicable(params, profile, target_kind) or _no_engine(
            fault, params, target_kind, settings)
        if reason:
            return reason
    names = [d.name for d in profile.dependencies]
    for activity in activities(experiment):
        provider = activity.get("provider") or {}
        if provider.get("module") in EXTENSION_MODULES:
            for name in _dependencies_named(provider.get("func"), provider.get("arguments") or {}):
                if name not in names:
                    return f"{profile.service.name} has no {name} dependency"
            func = provider.get("func", "")
            if target_kind not in (None, "local") and func in LOCAL_ONLY_PROBES:
                return f"local target only: {LOCAL_ONLY_PROBES[func]}"
            promise = PROMISE_PROBES.get(func)
            if promise is not None:
                name = (provider.get("arguments") or {}).get("dependency", "")
                findings = unpromised(profile, promise, name)
                if findings:
                    return f"{profile.service.name}: {findings[0]}"
    return None


def _no_engine(fault: str, params: dict[str, Any], target_kind: str | None, settings: Settings | None) -> str | None:
    """Why a network fault cannot be applied on the configured cluster (None: it can, or it is not one)."""
    if target_kind != "kubernetes" or settings is None or not isinstance(faults.get_fault(fault), NetworkFault):
        return None
    dependency = params.get("dependency")
    return engine_missing(settings, dependency if isinstance(dependency, str) else None)
