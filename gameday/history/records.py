"""A run as the history keeps it, and how a game day report (``report.json``) or a smoke becomes one.

Only chosen figures are kept — times, verdicts, the diagnosis, the alert, the checklist's names,
statuses and measured numbers — never a URL, a message body sent to a channel or anything from the
environment, so no secret can reach the history.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gameday.errors import UsageError
from gameday.history.schema import PHASES
from gameday.history.score import Targets, score_run
from gameday.result import ExperimentResult, GameDayReport
from gameday.version import __version__

KINDS = ("run", "smoke", "canary")
# reports written before service profiles existed do not name one: they were all of the reference service
LEGACY_PROFILE = "ecommerce-backend"
UNKNOWN_PROFILE = "unknown"
_CREDENTIALS = re.compile(r"(\w+://)[^/@\s:]+:[^/@\s]+@")  # user:password@ in any URL of a message


@dataclass
class ExperimentRecord:
    """One experiment of a run: verdict, phase times (seconds), diagnosis, alert, checklist figures."""

    name: str
    verdict: str
    fault: str | None = None
    expects_outage: bool | None = None
    phases: dict[str, float | None] = field(default_factory=dict)
    diagnosis_expected: str | None = None
    diagnosis_actual: str | None = None
    diagnosis_correct: bool | None = None
    alert_expected: bool | None = None
    alert_fired: bool | None = None
    alert_as_expected: bool | None = None
    checklist: list[dict[str, Any]] = field(default_factory=list)
    score: float | None = None
    weight: float | None = None

    @property
    def checklist_passed(self) -> int:
        """Checklist items that passed."""
        return sum(1 for c in self.checklist if c.get("status") == "pass")

    def row(self, run_id: str) -> dict[str, Any]:
        """The ``gameday_experiments`` row."""
        data = {k: v for k, v in asdict(self).items() if k != "phases"}
        data.update({f"{p}_s": self.phases.get(p) for p in PHASES})
        return {**data, "run_id": run_id, "checklist_passed": self.checklist_passed,
                "checklist_total": len(self.checklist)}

    @classmethod
    def from_row(cls, row: Any) -> ExperimentRecord:
        """Back from a ``gameday_experiments`` row."""
        names = {f for f in cls.__dataclass_fields__ if f != "phases"}
        return cls(**{k: row[k] for k in names}, phases={p: row[f"{p}_s"] for p in PHASES})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "checklist_passed": self.checklist_passed, "checklist_total": len(self.checklist)}


@dataclass
class RunRecord:
    """One game day, smoke or canary."""

    id: str
    kind: str
    target: str
    profile: str
    started_at: float
    status: str
    service_version: str | None = None
    gameday_version: str | None = __version__
    wall_time_s: float | None = None
    score: float | None = None
    exit_code: int | None = None
    message: str | None = None
    report: str | None = None
    experiments: list[ExperimentRecord] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The ``gameday_runs`` row."""
        return {k: v for k, v in asdict(self).items() if k != "experiments"}

    @classmethod
    def from_row(cls, row: Any, exps: list[ExperimentRecord]) -> RunRecord:
        """Back from a ``gameday_runs`` row and its experiments."""
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k != "experiments"}, experiments=exps)

    def experiment(self, name: str) -> ExperimentRecord | None:
        """The experiment of that name, if the run had it."""
        return next((e for e in self.experiments if e.name == name), None)

    def started_iso(self) -> str:
        """Local time, to the second."""
        return datetime.fromtimestamp(self.started_at).isoformat(sep=" ", timespec="seconds")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**self.row(), "started_iso": self.started_iso(), "experiments": [e.to_dict() for e in self.experiments]}


def run_id(started_at: float) -> str:
    """A run's id: its local start time, and 4 hex digits of the exact time (the same report, the same id)."""
    stamp = datetime.fromtimestamp(started_at).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{hashlib.sha1(repr(float(started_at)).encode()).hexdigest()[:4]}"


def game_day_exit_code(status: str) -> int:
    """The exit code ``gameday run`` gives a game day of that status."""
    return 0 if status == "passed" else 130 if status == "interrupted" else 1


def phases_of(experiment: ExperimentResult | dict[str, Any]) -> dict[str, float | None]:
    """An experiment's phase times in seconds, from the report's timestamps."""

    def between(start: Any, end: Any) -> float | None:
        return round(end - start, 2) if isinstance(start, int | float) and isinstance(end, int | float) else None

    exp = ExperimentResult.of(experiment)
    return {
        "inject": between(exp.injected_at, exp.fault_in_place_at),
        "detect": exp.time_to_detect_s,
        "alert": exp.alert.time_to_fire_s if exp.alert else None,
        "diagnose": exp.diagnosis.duration_s if exp.diagnosis else None,
        "resolve": between(exp.resolution_started_at, exp.recovered_at),
        "recover": exp.time_to_recover_s,
        "verify": exp.time_to_verify_s,
    }


def experiment_record(experiment: ExperimentResult | dict[str, Any]) -> ExperimentRecord:
    """One experiment of ``report.json``."""
    exp = ExperimentResult.of(experiment)
    diagnosis, alert = exp.diagnosis, exp.alert
    has_alert = alert is not None and alert.error is None
    checklist = [{"name": c.name, "status": c.status, "measured": c.measured or {}} for c in exp.checklist]
    return ExperimentRecord(
        name=str(exp.name),
        verdict=str(exp.status or "unknown"),
        fault=exp.fault,
        expects_outage=exp.expects_outage,
        phases=phases_of(exp),
        diagnosis_expected=diagnosis.expected if diagnosis else None,
        diagnosis_actual=diagnosis.verdict if diagnosis else None,
        diagnosis_correct=diagnosis.correct if diagnosis else None,
        alert_expected=alert.expected if alert else None,
        alert_fired=bool(alert.fired_at) if alert and has_alert else None,
        alert_as_expected=alert.as_expected if alert else None,
        checklist=checklist,
    )


def game_day_report(report: GameDayReport | dict[str, Any]) -> GameDayReport:
    """A game day's report, typed (UsageError, one line, when it is not one)."""
    if isinstance(report, GameDayReport):
        typed = report
    elif not isinstance(report, dict) or not isinstance(report.get("experiments"), list) \
            or not isinstance(report.get("started_at"), int | float):
        raise UsageError("not a game day report (report.json needs started_at and experiments)")
    else:
        try:
            typed = GameDayReport.model_validate(report)
        except ValidationError as exc:
            raise UsageError(f"not a game day report: {exc.error_count()} field(s) of the wrong type "
                             f"({'.'.join(str(x) for x in exc.errors()[0]['loc'])}: {exc.errors()[0]['msg']})") from exc
    if typed.started_at is None:
        raise UsageError("not a game day report (report.json needs started_at and experiments)")
    return typed


def from_game_day(game_day: GameDayReport | dict[str, Any], targets: Targets,
                  report_dir: str | None = None) -> RunRecord:
    """A game day's report as a run (the score as the report gave it, or computed with ``targets``)."""
    report = game_day_report(game_day)
    started_at = float(report.started_at or 0.0)
    scored = report.score or score_run(report.experiments, targets)
    points = {e.name: e for e in scored.experiments}
    exps = []
    for exp in report.experiments:
        record = experiment_record(exp)
        score = points.get(record.name)
        record.score = score.points if score else None
        record.weight = score.weight if score else None
        exps.append(record)
    status = str(report.status)
    return RunRecord(
        id=str(report.run_id or run_id(started_at)),
        kind="run",
        target=str(report.target or "unknown"),
        profile=str(report.profile or LEGACY_PROFILE),
        started_at=started_at,
        status=status,
        service_version=report.service_version,
        gameday_version=report.gameday_version or __version__,
        wall_time_s=report.wall_time_s,
        score=scored.score,
        exit_code=game_day_exit_code(status),
        message=_clean(report.message),
        report=report_dir,
        experiments=exps,
    )


def from_smoke(smoke: dict[str, Any], started_at: float, profile: str, service_version: str | None) -> RunRecord:
    """A smoke (``SmokeReport.to_dict()``): one experiment per verification attempt, no score (no fault)."""
    exps = []
    for attempt in smoke.get("attempts") or []:
        checklist = [{"name": v.get("name"), "status": str(v.get("status")), "measured": v.get("measured") or {}}
                     for v in attempt.get("verdicts") or []]
        exps.append(ExperimentRecord(name=str(attempt.get("label")), verdict=str(attempt.get("status")),
                                     phases={"verify": attempt.get("elapsed_s")}, checklist=checklist))
    return RunRecord(
        id=run_id(started_at), kind="smoke", target=str(smoke.get("target", "unknown")), profile=profile,
        started_at=started_at, status="passed" if smoke.get("passed") else "failed", service_version=service_version,
        wall_time_s=smoke.get("elapsed_s"), exit_code=smoke.get("exit_code"), experiments=exps,
    )


def read_report(path: Path) -> dict[str, Any]:
    """A ``report.json`` file (UsageError, one line, when it is not one)."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from exc
    return data


def _clean(text: Any) -> str | None:
    return _CREDENTIALS.sub(r"\1***@", str(text)) if text else None
