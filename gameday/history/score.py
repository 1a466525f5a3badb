"""The resilience score: 0-100 per run, from each experiment's result (the formula is in docs/history.md).

Pure functions of a report's experiments (:class:`gameday.result.ExperimentResult`, or their ``report.json``
dictionaries) and the score's targets, so the edges are unit-tested without a stack; the score itself is a
:class:`gameday.result.RunScore`. Each experiment earns points from the parts that apply to it;
a part that could not be measured (no Prometheus: no alert; no diagnosis taken) is left out rather
than given, because no data is never a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gameday.config import SloSettings
from gameday.result import SCORE_FORMULA, ExperimentResult, ExperimentScore, RunScore

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


def timeliness(seconds: float | None, target: float, limit: float) -> float:
    """1 at or under the target, 0 at or over the limit (and when never reached), linear in between."""
    if seconds is None:
        return 0.0
    if seconds <= target:
        return 1.0
    if seconds >= limit or limit <= target:
        return 0.0
    return round((limit - seconds) / (limit - target), 4)


def score_experiment(experiment: ExperimentResult | dict[str, Any], targets: Targets) -> ExperimentScore:
    """The points of one experiment of a report."""
    exp = ExperimentResult.of(experiment)
    outage = bool(exp.expects_outage) if "expects_outage" in exp.model_fields_set else True  # older reports: all were
    passed = exp.status == "passed"
    detected = exp.time_to_detect_s
    parts: dict[str, float | None] = {"passed": 1.0 if passed else 0.0}
    if outage:
        parts["detect"] = timeliness(detected, targets.detect_target_s, targets.detect_limit_s)
        parts["recover"] = timeliness(exp.time_to_recover_s, targets.recover_target_s, targets.recover_limit_s)
    else:  # degraded: the service should keep serving; an outage seen costs both parts
        parts["detect"] = parts["recover"] = 1.0 if detected is None else 0.0
    diagnosis = exp.diagnosis
    parts["diagnosis"] = None if not diagnosis else (1.0 if diagnosis.correct else 0.0)
    as_expected = exp.alert.as_expected if exp.alert else None
    parts["alert"] = None if as_expected is None else (1.0 if as_expected else 0.0)
    applicable = {k: v for k, v in parts.items() if v is not None}
    points = sum(PARTS[k] * v for k, v in applicable.items()) / sum(PARTS[k] for k in applicable)
    severity = "outage" if outage else "degraded"
    return ExperimentScore(name=str(exp.name), severity=severity, weight=SEVERITY[severity],
                           points=round(points, 4), parts=parts)


def score_run(experiments: Sequence[ExperimentResult | dict[str, Any]], targets: Targets) -> RunScore:
    """The run's 0-100 score: the experiments' points weighted by severity."""
    scored = [score_experiment(e, targets) for e in experiments]
    total = sum(s.weight for s in scored)
    score = round(100 * sum(s.weight * s.points for s in scored) / total, 1) if total else None
    return RunScore(score=score, formula=SCORE_FORMULA, parts=PARTS, severity=SEVERITY, experiments=scored)
