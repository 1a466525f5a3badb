"""The resilience score: 0-100 per run, from each experiment's result (the formula is in docs/history.md).

Pure functions of a report's experiments (the ``report.json`` shape) and the score's targets, so the
edges are unit-tested without a stack. Each experiment earns points from the parts that apply to it;
a part that could not be measured (no Prometheus: no alert; no diagnosis taken) is left out rather
than given, because no data is never a pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gameday.config import SloSettings

# Part weights inside one experiment (sum 1).
PARTS = {"passed": 0.40, "detect": 0.15, "recover": 0.20, "diagnosis": 0.15, "alert": 0.10}
# Severity weights of the experiments in the run: the runbook's P0 "service completely unavailable"
# (an outage expected) outweighs a dependency loss the service rides out degraded.
SEVERITY = {"outage": 3.0, "degraded": 1.0}


@dataclass(frozen=True)
class Targets:
    """Full points at or under ``*_target_s``, none at or over ``*_limit_s``, linear in between."""

    detect_target_s: float = 5.0
    detect_limit_s: float = 60.0
    recover_target_s: float = 60.0
    recover_limit_s: float = 300.0

    @classmethod
    def from_slo(cls, slo: SloSettings) -> Targets:
        """The targets of the SLO settings."""
        return cls(slo.detect_target_s, slo.detect_limit_s, slo.recover_target_s, slo.recover_limit_s)


@dataclass
class ExperimentScore:
    """One experiment's points (0-1), its severity weight and each part's value (None: not applicable)."""

    name: str
    severity: str
    weight: float
    points: float
    parts: dict[str, float | None] = field(default_factory=dict)


@dataclass
class RunScore:
    """The run's score (None without experiments) and the breakdown."""

    score: float | None
    experiments: list[ExperimentScore]
    formula: str = "100 × Σ weight·points / Σ weight; points = Σ part·value / Σ part (parts that apply)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for report.json."""
        return {"score": self.score, "formula": self.formula, "parts": PARTS, "severity": SEVERITY,
                "experiments": [asdict(e) for e in self.experiments]}


def timeliness(seconds: float | None, target: float, limit: float) -> float:
    """1 at or under the target, 0 at or over the limit (and when never reached), linear in between."""
    if seconds is None:
        return 0.0
    if seconds <= target:
        return 1.0
    if seconds >= limit or limit <= target:
        return 0.0
    return round((limit - seconds) / (limit - target), 4)


def score_experiment(exp: dict[str, Any], targets: Targets) -> ExperimentScore:
    """The points of one experiment of a report."""
    outage = bool(exp.get("expects_outage", True))
    passed = exp.get("status") == "passed"
    detected = exp.get("time_to_detect_s")
    parts: dict[str, float | None] = {"passed": 1.0 if passed else 0.0}
    if outage:
        parts["detect"] = timeliness(detected, targets.detect_target_s, targets.detect_limit_s)
        parts["recover"] = timeliness(exp.get("time_to_recover_s"), targets.recover_target_s, targets.recover_limit_s)
    else:  # degraded: the service should keep serving; an outage seen costs both parts
        parts["detect"] = parts["recover"] = 1.0 if detected is None else 0.0
    diagnosis = exp.get("diagnosis") or {}
    parts["diagnosis"] = None if not diagnosis else (1.0 if diagnosis.get("correct") else 0.0)
    alert = exp.get("alert") or {}
    as_expected = alert.get("as_expected")
    parts["alert"] = None if as_expected is None else (1.0 if as_expected else 0.0)
    applicable = {k: v for k, v in parts.items() if v is not None}
    points = sum(PARTS[k] * v for k, v in applicable.items()) / sum(PARTS[k] for k in applicable)
    severity = "outage" if outage else "degraded"
    return ExperimentScore(str(exp.get("name")), severity, SEVERITY[severity], round(points, 4), parts)


def score_run(experiments: list[dict[str, Any]], targets: Targets) -> RunScore:
    """The run's 0-100 score: the experiments' points weighted by severity."""
    scored = [score_experiment(e, targets) for e in experiments]
    total = sum(s.weight for s in scored)
    if not total:
        return RunScore(None, scored)
    return RunScore(round(100 * sum(s.weight * s.points for s in scored) / total, 1), scored)
