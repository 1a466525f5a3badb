"""The runbook's matching resolution for a verdict, and the commands to run it on this target.

Which line of the runbook's Resolution a verdict takes, and what to do in words, is the runbook package's
(its manifest's ``diagnosis``); here it is found in the text and turned into this target's commands.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gameday.dependencies import KINDS as DEPENDENCY_KINDS
from gameday.diagnose.evidence import Evidence
from gameday.diagnose.rules import (
    DEPENDENCY_DEGRADED,
    DEPENDENCY_FAILURE,
    DEPENDENCY_HANG,
    Verdict,
    dependency_words,
)
from gameday.profile import Profile
from gameday.runbook.package import Resolution as RunbookResolution
from gameday.runbook.package import owning
from gameday.runbook.parse import Runbook, RunbookLine
from gameday.targets.base import Target

DEPENDENCY = "{dependency}"  # in a rule's match and steps: the verdict's dependency
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


def _find(runbook: Runbook | None, predicate: Any, block: bool) -> list[RunbookLine]:
    """The first Resolution line matching ``predicate``; with ``block``, every command and note of its sub-section."""
    if runbook is None:
        return []
    lines = runbook.section("resolution")
    hit = next((ln for ln in lines if predicate(ln)), None)
    if hit is None:
        return []
    if block and hit.subsection:
        return [ln for ln in lines if ln.subsection == hit.subsection and ln.kind in ("command", "note")]
    return [hit]


def runbook_lines(rule: RunbookResolution | None, runbook: Runbook | None, words: tuple[str, ...] = ()
                  ) -> list[RunbookLine]:
    """The runbook's resolution lines for a verdict (its package's rule); ``words`` name the dependency of a
    dependency verdict (the rule's ``{dependency}``)."""
    if rule is None:
        return []
    if DEPENDENCY in rule.match:
        texts = [rule.match.replace(DEPENDENCY, w) for w in words]
        return _find(runbook, lambda ln: ln.kind == rule.kind and any(t in ln.text.lower() for t in texts), rule.block)
    return _find(runbook, lambda ln: ln.kind == rule.kind and rule.match in f" {ln.text} ", rule.block)


def rule_for(kind: str, runbook: Runbook | None) -> RunbookResolution | None:
    """The resolution rule of the package that holds this runbook's markdown, for a verdict kind."""
    owner = owning(runbook.path) if runbook is not None else None
    return owner.resolution(kind) if owner is not None else None


def resolve(
    verdict: Verdict, target: Target, profile: Profile, runbook: Runbook | None, evidence: Evidence | None = None
) -> Resolution:
    """The runbook's resolution for the verdict (its package's ``diagnosis``), with the commands for ``target``
    (``Target.command_for``)."""
    dep = profile.dependency(verdict.dependency) if verdict.dependency else None
    label = DEPENDENCY_KINDS[dep.kind].label if dep else ""
    rule = rule_for(verdict.kind, runbook)
    lines = runbook_lines(rule, runbook, (*dependency_words(dep), label.lower()) if dep else ())
    step = lines[0].where if lines else ""
    resolution = Resolution(step, [ln.text for ln in lines if ln.kind == "command"])
    commands = [cmd for cmd in (command_for(target, action) for action in verdict.actions) if cmd]
    name = (label if dep.name.lower() == label.lower() else f"{dep.name} ({label})") if dep else None
    steps = rule.steps if rule is not None else []
    if name is not None or not any(DEPENDENCY in s for s in steps):
        resolution.steps = [s.replace(DEPENDENCY, name or "") for s in steps]
    if verdict.kind in (DEPENDENCY_FAILURE, DEPENDENCY_DEGRADED, DEPENDENCY_HANG) and dep is not None:
        check = next((c for c in (evidence.dependencies if evidence else []) if c.name == verdict.dependency), None)
        if check is not None and check.command:
            commands.append(check.command)
    resolution.commands = commands
    return resolution
