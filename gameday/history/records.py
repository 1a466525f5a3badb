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

from gameday import __version__
from gameday.errors import UsageError
from gameday.history.schema import PHASES
from gameday.history.score import Targets, score_run

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


def phases_of(exp: dict[str, Any]) -> dict[str, float | None]:
    """An experiment's phase times in seconds, from the report's timestamps."""

    def between(start: Any, end: Any) -> float | None:
        return round(end - start, 2) if isinstance(start, int | float) and isinstance(end, int | float) else None

    alert = exp.get("alert") or {}
    diagnosis = exp.get("diagnosis") or {}
    return {
        "inject": between(exp.get("injected_at"), exp.get("fault_in_place_at")),
        "detect": exp.get("time_to_detect_s"),
        "alert": alert.get("time_to_fire_s"),
        "diagnose": diagnosis.get("duration_s"),
        "resolve": between(exp.get("resolution_started_at"), exp.get("recovered_at")),
        "recover": exp.get("time_to_recover_s"),
        "verify": exp.get("time_to_verify_s"),
    }


def experiment_record(exp: dict[str, Any]) -> ExperimentRecord:
    """One experiment of ``report.json``."""
    diagnosis = exp.get("diagnosis") or {}
    alert = exp.get("alert") or {}
    has_alert = bool(alert) and "error" not in alert
    checklist = [{"name": c.get("name"), "status": c.get("status"), "measured": c.get("measured") or {}}
                 for c in exp.get("checklist") or []]
    return ExperimentRecord(
        name=str(exp["name"]),
        verdict=str(exp.get("status", "unknown")),
        fault=exp.get("fault"),
        expects_outage=exp.get("expects_outage"),
        phases=phases_of(exp),
        diagnosis_expected=diagnosis.get("expected"),
        diagnosis_actual=diagnosis.get("verdict"),
        diagnosis_correct=diagnosis.get("correct") if diagnosis else None,
        alert_expected=alert.get("expected") if alert else None,
        alert_fired=bool(alert.get("fired_at")) if has_alert else None,
        alert_as_expected=alert.get("as_expected") if alert else None,
        checklist=checklist,
    )


def from_game_day(report: dict[str, Any], targets: Targets, report_dir: str | None = None) -> RunRecord:
    """A game day's ``report.json`` as a run (the score as the report gave it, or computed with ``targets``)."""
    if not isinstance(report, dict) or not isinstance(report.get("experiments"), list) \
            or not isinstance(report.get("started_at"), int | float):
        raise UsageError("not a game day report (report.json needs started_at and experiments)")
    scored = report.get("score") or score_run(report["experiments"], targets).to_dict()
    points = {e["name"]: e for e in scored.get("experiments", [])}
    exps = []
    for exp in report["experiments"]:
        record = experiment_record(exp)
        record.score = points.get(record.name, {}).get("points")
        record.weight = points.get(record.name, {}).get("weight")
        exps.append(record)
    status = str(report.get("status", "unknown"))
    return RunRecord(
        id=str(report.get("run_id") or run_id(report["started_at"])),
        kind="run",
        target=str(report.get("target", "unknown")),
        profile=str(report.get("profile") or LEGACY_PROFILE),
        started_at=float(report["started_at"]),
        status=status,
        service_version=report.get("service_version"),
        gameday_version=report.get("gameday_version") or __version__,
        wall_time_s=report.get("wall_time_s"),
        score=scored.get("score"),
        exit_code=game_day_exit_code(status),
        message=_clean(report.get("message")),
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
