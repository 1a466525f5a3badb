"""Canary scenarios of a runbook package (``canaries.yaml`` beside its experiments): a release of the profile rolled
out by :func:`gameday.canary.run.run_canary`, and what the canary must decide about it.

A fault experiment breaks a healthy service and checks the runbook's response; a canary scenario checks the
runbook's Prevention instead: that a bad release is rolled back before it reaches the fleet (and by the right
measurement), and that a good one is promoted. The file is data, like the experiments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gameday.canary.run import CanaryReport, Plan, run_canary
from gameday.errors import UsageError
from gameday.ledger import Ledger
from gameday.profile import Profile
from gameday.targets.base import Target

FILE = "canaries.yaml"
Check = Literal["errors", "latency", "restarts"]  # a step's checks (gameday.canary.analysis.decide)
CHECKS: tuple[str, ...] = ("errors", "latency", "restarts")


class Expect(BaseModel):
    """What the canary must decide."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    outcome: Literal["promoted", "rolled back"]
    at_step: int | None = Field(None, ge=1, description="the step that decided")
    by: Check | list[Check] | None = Field(
        None, description="the check that found it worse (or any of several), the others not")
    max_served: int | None = Field(None, ge=0, description="replicas that ever ran the new release")


class Scenario(BaseModel):
    """One release and its expected decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    release: Literal["bad", "slow", "good"]
    expect: Expect


class Scenarios(BaseModel):
    """The file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scenarios: list[Scenario] = Field(min_length=1)


@dataclass
class Result:
    """A scenario run: the canary's report and whether it decided as expected."""

    scenario: Scenario
    version: str
    report: CanaryReport | None = None
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        """Decided as expected (a skipped scenario did not pass)."""
        return self.report is not None and not self.problems

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"name": self.scenario.name, "release": self.scenario.release, "version": self.version,
                "expect": self.scenario.expect.model_dump(exclude_none=True), "passed": self.passed,
                "problems": self.problems, "skipped": self.skipped,
                "report": self.report.to_dict() if self.report else None}


def load(folder: Path) -> list[Scenario]:
    """The scenarios of a runbook package; one line when the file is missing or malformed."""
    path = folder / FILE
    try:
        data = yaml.safe_load(path.read_text())
        return Scenarios.model_validate(data).scenarios
    except OSError as exc:
        raise UsageError(f"no canary scenarios: cannot read {path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[0:3]
        raise UsageError(f"{path}: {' '.join(first)}") from None


def version_of(release: str, profile: Profile) -> str | None:
    """The profile's version for ``bad``, ``slow`` or ``good`` (the first of ``local.releases``), if it has one."""
    local = profile.local
    if local is None:
        return None
    if release == "bad":
        return local.bad_release.version if local.bad_release else None
    if release == "slow":
        return local.slow_release.version if local.slow_release else None
    return local.releases[0] if local.releases else None


def judge(expect: Expect, report: CanaryReport) -> list[str]:
    """What differs from the expectation (empty: as expected)."""
    problems = []
    if report.outcome != expect.outcome:
        problems.append(f"{report.outcome} ({report.reason}), expected {expect.outcome}")
    if expect.at_step is not None and len(report.steps) != expect.at_step:
        problems.append(f"decided at step {len(report.steps)}, expected step {expect.at_step}")
    if expect.by is not None:
        last = report.steps[-1] if report.steps else None
        checks = last.verdict.checks if last is not None and last.verdict is not None else {}
        if last is not None and last.error is not None:  # its replica never served (a crash loop): its errors
            checks = {"errors": "worse", "latency": "unknown"}
        wanted = [expect.by] if isinstance(expect.by, str) else list(expect.by)
        others = [c for c in CHECKS if c not in wanted]
        if all(checks.get(c) != "worse" for c in wanted) or any(checks.get(c) == "worse" for c in others):
            problems.append(f"checks {checks or 'none'}: expected {' or '.join(wanted)} worse and "
                            f"{' nor '.join(others)} not")
    if expect.max_served is not None and len(report.served_new) > expect.max_served:
        problems.append(f"{len(report.served_new)} replicas ran the new release ({', '.join(report.served_new)}), "
                        f"expected at most {expect.max_served}")
    return problems


def run_scenarios(scenarios: list[Scenario], target: Target, profile: Profile, ledger: Ledger,
                  say: Callable[[str], None] = lambda _: None) -> list[Result]:
    """Each scenario in turn; a promoted release is rolled back afterwards so the next starts from the same one."""
    results = []
    for scenario in scenarios:
        version = version_of(scenario.release, profile)
        if version is None:
            results.append(Result(scenario, "", skipped=f"the profile names no {scenario.release} release"))
            continue
        before = target.current_revision()
        report = run_canary(target, profile, ledger, Plan(version), say)
        results.append(Result(scenario, version, report, judge(scenario.expect, report)))
        if report.outcome == "promoted" and before is not None:
            again = [r.number for r in target.history() if r.version == before.version]
            target.rollout_undo(to_revision=max(again) if again else None, wait=True)
            say(f"{scenario.name}: {version} rolled back to {before.version} for the next scenario")
    return results
