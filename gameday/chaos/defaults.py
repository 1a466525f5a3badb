"""A runbook's experiment defaults: an experiment states only what differs from its runbook's.

Every experiment of a runbook starts and ends in the same steady state and undoes its faults the same way. Those
two blocks are written once, in the runbook package (``runbook.yaml``, ``experiment_defaults``), not in each file.
chaostoolkit has no include, so a plain ``chaos run experiments/<runbook>/<name>.json`` gets them from this module
as a chaostoolkit control the experiment declares (:data:`CONTROL`): chaostoolkit-lib calls
:func:`configure_control` with the experiment before it looks for a steady-state hypothesis or reads the
rollbacks, and the control fills in whichever of the two the experiment does not state, from the runbook its
configuration names (``gameday_runbook``).

It fails closed: chaostoolkit-lib only logs a ``configure_control`` that raises (and would then run the method with
no steady state at all), so nothing escapes here; whatever goes wrong becomes a steady-state hypothesis whose one
probe fails with the reason, and the method never starts.

gameday's own readers (lint, catalogue, dry run, runner) see the same effective experiment through
:func:`effective`, which ``gameday.chaos.lint.load`` applies.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gameday.context import RUNBOOK_KEY
from gameday.errors import UsageError
from gameday.runbook.package import Runbook, find

__all__ = ["CONTROL", "after_experiment_control", "configure_control", "defaults_unavailable"]

CONTROL_NAME = "runbook-defaults"
CONTROL: dict[str, Any] = {"name": CONTROL_NAME, "provider": {"type": "python", "module": __name__}}
HYPOTHESIS = "steady-state-hypothesis"
ROLLBACKS = "rollbacks"
FILLED = (HYPOTHESIS, ROLLBACKS)  # the blocks an experiment may leave to its runbook


def declares_control(experiment: Mapping[str, Any]) -> bool:
    """Whether the experiment asks for its runbook's defaults (declares :data:`CONTROL`)."""
    return any(isinstance(c, Mapping) and (c.get("provider") or {}).get("module") == __name__
               for c in experiment.get("controls") or [])


def runbook_named(experiment: Mapping[str, Any], configuration: Mapping[str, Any] | None = None) -> Runbook:
    """The runbook whose defaults the experiment takes: the one its configuration names (UsageError, one line, when
    it names none or one that cannot be loaded). No fallback to the profile's: the file alone says which."""
    name = (configuration or {}).get(RUNBOOK_KEY) or (experiment.get("configuration") or {}).get(RUNBOOK_KEY)
    if not name or not isinstance(name, str):
        raise UsageError(f"the experiment names no runbook (configuration.{RUNBOOK_KEY}): its steady state and "
                         "rollbacks come from the runbook package")
    return find(name)


def fill_in(experiment: dict[str, Any], runbook: Runbook) -> dict[str, Any]:
    """Put the runbook's steady-state hypothesis and rollbacks into ``experiment`` (in place) where it states none;
    an experiment that states either keeps its own (``"rollbacks": []`` states none on purpose). UsageError when
    neither the experiment nor the runbook gives one: never a run without a steady state or an undo."""
    given = runbook.experiment_defaults
    for key, default in ((HYPOTHESIS, given.steady_state_hypothesis), (ROLLBACKS, given.rollbacks)):
        if key in experiment:
            continue
        if default is None:
            raise UsageError(f"the experiment states no {key} and the {runbook.name} runbook gives none "
                             f"({runbook.folder / 'runbook.yaml'}: experiment_defaults)")
        experiment[key] = copy.deepcopy(default)
    return experiment


def effective(experiment: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment as chaostoolkit runs it: a copy, with its runbook's defaults filled in when it declares
    :data:`CONTROL` (as is, otherwise). The one place gameday's readers get an experiment's steady state and
    rollbacks from. UsageError (one line) when its defaults cannot be had."""
    found = copy.deepcopy(dict(experiment))
    if declares_control(found):
        fill_in(found, runbook_named(found))
    return found


def failing_hypothesis(reason: str) -> dict[str, Any]:
    """A steady-state hypothesis that cannot be met, saying why: what a run gets when its defaults cannot be had."""
    return {"title": "The runbook's steady state could not be loaded", "probes": [{
        "type": "probe", "name": "runbook-defaults-loaded",
        "provider": {"type": "python", "module": __name__, "func": "defaults_unavailable",
                     "arguments": {"reason": reason}},
        "tolerance": {"type": "jsonpath", "path": "$.ok", "expect": True}}]}


def defaults_unavailable(reason: str) -> dict[str, Any]:
    """The probe of :func:`failing_hypothesis`: never met (its output carries the reason into the journal)."""
    return {"ok": False, "reason": reason}


def configure_control(experiment: dict[str, Any], configuration: Mapping[str, Any] | None = None) -> None:
    """chaostoolkit's hook, called before the steady state is looked for: fill in the runbook's defaults. Any
    failure installs :func:`failing_hypothesis` instead (chaostoolkit would swallow it and run unguarded)."""
    try:
        fill_in(experiment, runbook_named(experiment, configuration))
    except Exception as exc:  # fail closed: the reason goes into the one probe that fails
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        experiment[HYPOTHESIS] = failing_hypothesis(f"runbook defaults not applied: {text}")


def after_experiment_control(context: dict[str, Any], state: Any = None, **kwargs: Any) -> None:
    """chaostoolkit's journal copied the experiment before :func:`configure_control` ran: give the copy the blocks
    that were filled in, so that the journal shows the experiment that ran."""
    copied = state.get("experiment") if isinstance(state, dict) else None
    if isinstance(copied, dict):
        for key in FILLED:
            if key in context and key not in copied:
                copied[key] = copy.deepcopy(context[key])
