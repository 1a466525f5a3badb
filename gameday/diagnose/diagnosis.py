"""``diagnose(target)``: collect the evidence, decide the verdict, name the runbook's resolution. Read-only."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gameday import runbooks
from gameday.calls import Client, fillable
from gameday.diagnose.evidence import ApiAnswer, Evidence, budget_for, collect
from gameday.diagnose.resolution import Resolution, resolve
from gameday.diagnose.rules import Verdict, decide
from gameday.errors import GamedayError, UsageError
from gameday.profile import Profile
from gameday.profile.dependency import CHECK_TIMEOUT_S
from gameday.runbook.parse import Runbook, default_runbook_path, log_patterns, parse_runbook
from gameday.targets.base import Target


@dataclass
class Diagnosis:
    """Evidence, verdict and resolution of one diagnosis."""

    target: str
    evidence: Evidence
    verdict: Verdict
    resolution: Resolution
    runbook: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "target": self.target,
            "runbook": self.runbook,
            "verdict": self.verdict.to_dict(),
            "resolution": self.resolution.to_dict(),
            "evidence": self.evidence.to_dict(),
            "duration_s": round(self.evidence.duration_s, 3),
        }


def load_runbook(path: str | Path | None = None) -> Runbook | None:
    """The runbook to name resolutions from (the shipped one by default); None when there is none."""
    chosen = Path(path) if path else default_runbook_path()
    if path is None and not chosen.exists():
        return None
    try:
        return parse_runbook(chosen)
    except GamedayError:
        if path is None:
            return None
        raise


def call_api(base_url: str, profile: Profile, timeout_s: float) -> list[ApiAnswer]:
    """Each endpoint of the profile that needs no captured value, once, through the load balancer."""
    endpoints = [e for e in profile.endpoints if fillable(e, {})]
    with Client(base_url, timeout_s) as client, ThreadPoolExecutor(max_workers=max(1, len(endpoints))) as pool:
        answers = list(pool.map(lambda e: client.endpoint(e, {}), endpoints))
    return [ApiAnswer(a.name, a.status, a.failed) for a in answers]


def diagnose(
    target: Target,
    profile: Profile,
    runbook: Runbook | None = None,
    *,
    check_timeout: float | None = None,
    budget: float | None = None,
) -> Diagnosis:
    """The runbook's diagnosis steps 1-3 on ``target`` running ``profile``'s service, its verdict and resolution.

    ``budget``: default, from the target's own timings (:func:`~gameday.diagnose.evidence.budget_for`); the API is
    called with the wait gameday's clients give the service (``target.answer_timeout_s()``, beyond its load
    balancer's timeout): a page queued behind others on a heavy service is slow, not down. Each dependency's check
    waits ``check_timeout`` or, by default, its profile's ``check_timeout_s``."""
    names = [d.name for d in profile.dependencies]
    waits = {d.name: d.check_timeout_s if check_timeout is None else check_timeout for d in profile.dependencies}
    chosen = budget if budget is not None else budget_for(target, max(waits.values(), default=CHECK_TIMEOUT_S))
    evidence = collect(target, log_patterns(runbook), names, check_timeouts=waits, budget=chosen,
                       api=lambda: call_api(target.base_url(), profile, timeout_s=target.answer_timeout_s()))
    verdict = decide_all(evidence, profile)
    resolution = resolve(verdict, target, profile, runbook, evidence)
    return Diagnosis(target.name, evidence, verdict, resolution, str(runbook.path) if runbook else "")


Rule = Callable[[Evidence, Profile], Verdict | None]  # a runbook package's rule: a verdict, or None (not its case)


def runbook_rules() -> list[Rule]:
    """Every runbook package's own rules (the ``decide(evidence, profile) -> Verdict | None`` of its
    ``diagnosis`` module, :mod:`gameday.runbooks`), in the packages' order: all of them, whatever runbook was
    chosen, so that a cause made by hand is named too."""
    rules = []
    for module in runbooks.modules("diagnosis"):
        rule = getattr(module, "decide", None)
        if not callable(rule):
            raise UsageError(f"{module.__file__}: a runbook's diagnosis module must define decide(evidence, profile)")
        rules.append(rule)
    return rules


def decide_all(evidence: Evidence, profile: Profile) -> Verdict:
    """The first verdict a runbook package's rules name, else the generic rules' (:func:`.rules.decide`)."""
    for rule in runbook_rules():
        verdict = rule(evidence, profile)
        if verdict is not None:
            return verdict
    return decide(evidence, profile)
