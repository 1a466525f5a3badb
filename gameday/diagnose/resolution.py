"""The runbook's matching resolution for a verdict, and the commands to run it on this target."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gameday.dependencies import KINDS as DEPENDENCY_KINDS
from gameday.diagnose.evidence import Evidence
from gameday.diagnose.rules import (
    ALL_REPLICAS_DOWN,
    CONFIGURATION_PROBLEM,
    DEPENDENCY_DEGRADED,
    DEPENDENCY_FAILURE,
    DEPENDENCY_HANG,
    FAILED_DEPLOYMENT,
    REPLICAS_HANGING,
    UNKNOWN,
    Verdict,
    dependency_words,
)
from gameday.profile import Profile
from gameday.runbook.parse import Runbook, RunbookLine
from gameday.targets.base import Target

# the actions the gameday CLI itself has (a target without its own command_for maps actions to ``gameday ACTION``)
GAMEDAY_ACTIONS = {"rollout undo", "rollout restart", "logs"}


def command_for(target: Target, action: str) -> str | None:
    """This target's command for a runbook action; None when the target has none for it."""
    if type(target).command_for is Target.command_for and action not in GAMEDAY_ACTIONS:
        return None
    return target.command_for(action)


@dataclass
class Resolution:
    """What the runbook says to do, and the commands for this target."""

    runbook_step: str  # where in the runbook: "Resolution › 根本原因修復 › 如果由失敗的 deployment 造成"
    runbook_commands: list[str] = field(default_factory=list)  # as the runbook writes them
    steps: list[str] = field(default_factory=list)  # what to do, in words
    commands: list[str] = field(default_factory=list)  # to type on this target

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)


def _find(runbook: Runbook | None, predicate: Any) -> list[RunbookLine]:
    """The Resolution lines of the first sub-section that has a line matching ``predicate``."""
    if runbook is None:
        return []
    lines = runbook.section("resolution")
    hit = next((ln for ln in lines if predicate(ln)), None)
    if hit is None:
        return []
    if hit.subsection and hit.kind == "command" and "apply" in hit.text:
        return [ln for ln in lines if ln.subsection == hit.subsection and ln.kind in ("command", "note")]
    return [hit]


def runbook_lines(kind: str, runbook: Runbook | None, words: tuple[str, ...] = ()) -> list[RunbookLine]:
    """The runbook's resolution lines for a verdict kind; ``words`` name the dependency of a dependency verdict."""
    if kind == FAILED_DEPLOYMENT:
        return _find(runbook, lambda ln: ln.kind == "command" and "rollout undo" in ln.text)
    if kind == CONFIGURATION_PROBLEM:
        return _find(runbook, lambda ln: ln.kind == "command" and " apply " in f" {ln.text} ")
    if kind in (DEPENDENCY_FAILURE, DEPENDENCY_DEGRADED, DEPENDENCY_HANG):
        return _find(runbook, lambda ln: ln.kind == "note" and any(w in ln.text.lower() for w in words))
    if kind in (ALL_REPLICAS_DOWN, REPLICAS_HANGING):
        return _find(runbook, lambda ln: ln.kind == "command" and "rollout restart" in ln.text)
    if kind == UNKNOWN:
        return _find(runbook, lambda ln: ln.kind == "command" and " logs " in f" {ln.text} ")
    return []


def resolve(
    verdict: Verdict, target: Target, profile: Profile, runbook: Runbook | None, evidence: Evidence | None = None
) -> Resolution:
    """The runbook's resolution for the verdict, with the commands for ``target`` (``Target.command_for``)."""
    dep = profile.dependency(verdict.dependency) if verdict.dependency else None
    label = DEPENDENCY_KINDS[dep.kind].label if dep else ""
    lines = runbook_lines(verdict.kind, runbook, (*dependency_words(dep), label.lower()) if dep else ())
    step = lines[0].where if lines else ""
    resolution = Resolution(step, [ln.text for ln in lines if ln.kind == "command"])
    commands = [cmd for cmd in (command_for(target, action) for action in verdict.actions) if cmd]
    if verdict.kind == FAILED_DEPLOYMENT:
        resolution.steps = ["roll back to the previous revision"]
    elif verdict.kind == CONFIGURATION_PROBLEM:
        resolution.steps = ["restore the previous configuration (the runbook: kubectl apply -f previous-config.yaml)",
                            "restart the replicas onto it"]
    elif verdict.kind in (DEPENDENCY_FAILURE, DEPENDENCY_DEGRADED, DEPENDENCY_HANG) and dep is not None:
        name = label if dep.name.lower() == label.lower() else f"{dep.name} ({label})"
        hang = " and the network path to it (it accepts connections and never answers)" \
            if verdict.kind == DEPENDENCY_HANG else ""
        resolution.steps = [f"check and fix {name}{hang} (see its runbook), then check it again"]
        check = next((c for c in (evidence.dependencies if evidence else []) if c.name == verdict.dependency), None)
        if check is not None and check.command:
            commands.append(check.command)
    elif verdict.kind in (ALL_REPLICAS_DOWN, REPLICAS_HANGING):
        resolution.steps = ["restart the pods (rolling restart)"]
    elif verdict.kind == UNKNOWN:
        resolution.steps = ["read the pod logs; escalate per the runbook"]
    resolution.commands = commands
    return resolution
