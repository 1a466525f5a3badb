"""``gameday runbook-check``: does every command of the runbook still work against the target?

Each command of a fenced block is filled in (``${POD_NAME}``, ``${DB_HOST}``, ``${REDIS_HOST}``,
``${KAFKA_BOOTSTRAP}`` from the target), then checked by the target's checker: on the local target
each kubectl command is mapped to the equivalent Target call (see :mod:`gameday.runbook.local_check`);
on Kubernetes the read-only ones run for real with kubectl (:mod:`gameday.runbook.kube_check`).
Mutating commands are never run: their names are checked and they are listed as "not run (mutating)".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from gameday.config import Settings
from gameday.runbook.command_check import BROKEN, DRIFT, FAILING, NOT_RUN, OK, SKIPPED, CommandCheck
from gameday.runbook.kube_check import KubectlChecker
from gameday.runbook.kubectl import NotKubectl, fill, parse, variables
from gameday.runbook.local_check import LocalChecker
from gameday.runbook.parse import Runbook, RunbookLine
from gameday.targets.base import Target
from gameday.targets.model import TargetError

__all__ = ["BROKEN", "DRIFT", "FAILING", "NOT_RUN", "OK", "SKIPPED", "CommandCheck", "RunbookCheck", "check_runbook",
           "target_variables"]

@dataclass
class RunbookCheck:
    """Every command's verdict."""

    runbook: str
    target: str
    variables: dict[str, str]
    results: list[CommandCheck] = field(default_factory=list)

    @property
    def failing(self) -> list[CommandCheck]:
        """Drifted or broken commands."""
        return [r for r in self.results if r.status in FAILING]

    def counts(self) -> dict[str, int]:
        """How many commands have each status."""
        out = {s: 0 for s in (OK, DRIFT, BROKEN, NOT_RUN, SKIPPED)}
        for r in self.results:
            out[r.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "runbook": self.runbook,
            "target": self.target,
            "variables": self.variables,
            "counts": self.counts(),
            "ok": not self.failing,
            "results": [asdict(r) for r in self.results],
        }


class Checker(Protocol):
    """Checks one parsed kubectl command on one kind of target."""

    def check(self, line: RunbookLine, rendered: str) -> CommandCheck:
        """The verdict on one command."""
        ...


def target_variables(target: Target) -> tuple[dict[str, str], dict[str, str]]:
    """The runbook's variables from the target: values, and for each one that has none, why."""
    values: dict[str, str] = {}
    missing: dict[str, str] = {}
    try:
        replicas = target.replicas()
        chosen = next((r for r in replicas if r.ready), replicas[0] if replicas else None)
        if chosen is None:
            missing["POD_NAME"] = "the target has no replicas"
        else:
            values["POD_NAME"] = chosen.name
    except TargetError as exc:
        missing["POD_NAME"] = str(exc)
    try:
        config = target.config()
    except TargetError as exc:
        config = {}
        for name in ("DB_HOST", "REDIS_HOST", "KAFKA_BOOTSTRAP"):
            missing[name] = str(exc)
    for name in ("DB_HOST", "REDIS_HOST", "KAFKA_BOOTSTRAP"):
        if config.get(name):
            values[name] = str(config[name])
        else:
            missing.setdefault(name, f"the target's configuration has no {name}")
    return values, missing


def check_runbook(
    runbook: Runbook,
    target: Target,
    settings: Settings,
    checker: Checker | None = None,
    progress: Callable[[CommandCheck], None] | None = None,
) -> RunbookCheck:
    """Check every command of the runbook (and list its comment-only blocks) against the target."""
    values, missing = target_variables(target)
    if checker is None:
        checker = make_checker(target, settings, runbook)
    report = RunbookCheck(str(runbook.path), target.name, values)
    for line in runbook.lines:
        if line.kind == "note":
            result = CommandCheck(line.line, line.where, line.text, line.text, SKIPPED, "no command (comments only)")
        elif line.kind != "command":
            continue
        else:
            result = _check_one(line, checker, values, missing)
        report.results.append(result)
        if progress:
            progress(result)
    return report


def _check_one(line: RunbookLine, checker: Checker, values: dict[str, str], missing: dict[str, str]) -> CommandCheck:
    rendered = fill(line.text, values)
    unknown = [v for v in variables(line.text) if v not in values]
    if unknown:
        reasons = "; ".join(f"${{{v}}}: {missing.get(v, 'not a variable gameday knows')}" for v in unknown)
        return CommandCheck(line.line, line.where, line.text, rendered, BROKEN, f"no value for {reasons}")
    try:
        parse(rendered)
    except NotKubectl:
        return CommandCheck(line.line, line.where, line.text, rendered, NOT_RUN, "not a kubectl command: not run")
    except ValueError as exc:
        return CommandCheck(line.line, line.where, line.text, rendered, BROKEN, f"cannot parse: {exc}")
    try:
        return checker.check(line, rendered)
    except TargetError as exc:
        return CommandCheck(line.line, line.where, line.text, rendered, BROKEN, f"target error: {exc}")


def make_checker(target: Target, settings: Settings, runbook: Runbook) -> Checker:
    """The checker for the target's kind: Target calls on local, the kubectl binary on Kubernetes."""
    if target.name == "kubernetes" or settings.target == "kubernetes":
        return KubectlChecker(settings, base_dir=runbook.path.parent)
    return LocalChecker(target, settings, base_dir=runbook.path.parent)
