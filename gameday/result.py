"""The game day's results as types: one experiment's result, the run's score, the whole report.

A game day writes these (:mod:`gameday.run`), the history records and scores them (:mod:`gameday.history`), the
report renders them (:mod:`gameday.report`) and the bench measures from them (``bench/``): all read the same
models instead of string keys, and ``report.json`` is their JSON (:func:`report_schema` is its JSON schema,
``gameday/report.schema.json`` the copy kept beside the code).

Every field is optional and unknown keys are kept, because the history imports reports written by older versions
(``gameday runs import``) and those lack fields later versions added. A model dumps only the fields that were set
(:meth:`Model.to_dict`), so a report keeps the exact shape it had as a dictionary: an alert Prometheus did not
answer for has its four keys, not every alert field as null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, field_validator

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
Number = int | float  # a whole number stays one: report.json keeps the numbers as they were measured
SCORE_FORMULA = "100 × Σ weight·points / Σ weight; points = Σ part·value / Σ part (parts that apply)"


class Model(BaseModel):
    """A part of ``report.json``: unknown keys kept (reports of other versions), dumped as it was set."""

    model_config = ConfigDict(extra="allow", validate_assignment=False)

    @classmethod
    def of(cls, data: Self | dict[str, Any]) -> Self:
        """``data`` as this model (a dictionary, as ``report.json`` holds it, is validated)."""
        return data if isinstance(data, cls) else cls.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the keys that were set, in the order the model declares them (then unknown ones)."""
        return self.model_dump(exclude_unset=True)


def _none_if_empty(value: Any) -> Any:
    """An empty dictionary is "none made" (no diagnosis, no alert), as the report's readers always took it."""
    return value or None


class ChecklistItem(Model):
    """One item of the runbook's verification checklist over the load window after recovery."""

    name: str | None = None
    status: str | None = None  # pass, fail, ...
    detail: str | None = None
    measured: dict[str, Any] | None = None


class Diagnosis(Model):
    """What ``gameday diagnose`` said while the fault held, against what the experiment expects."""

    at: Number | None = None
    verdict: str | None = None
    summary: str | None = None
    expected: str | None = None
    accepted: list[str] = []  # also right: a partial fault that did tip the service over
    correct: bool | None = None
    command: str | None = None
    duration_s: Number | None = None
    gating: bool | None = None  # strict: a wrong diagnosis fails the experiment


class Alert(Model):
    """The runbook's paging alert (e.g. endpoint-down) against what was expected (``as_expected`` None: not judged,
    ``not_judged`` says why); Prometheus's and the receiver's times (:class:`gameday.alerts.timeline.AlertTimes`)."""

    alertname: str | None = None
    fired_at: Number | None = None
    resolved_at: Number | None = None
    received_firing_at: Number | None = None
    received_resolved_at: Number | None = None
    pending_at: Number | None = None
    active_at: Number | None = None  # Prometheus's activeAt of the alert that paged: its `for:` counts from there
    expected: bool | None = None
    error: str | None = None  # Prometheus did not answer
    time_to_fire_s: Number | None = None
    after_detection_s: Number | None = None
    as_expected: bool | None = None
    not_judged: str | None = None
    waited_s: Number | None = None  # how long the run waited for the page
    needs_s: Number | None = None  # the rule's for:: how long the service must be down in one piece to page
    longest_down_s: Number | None = None  # the longest the service was down in one piece, as the probes saw it


class Escalation(Model):
    """Who the outage would have reached, by its length."""

    outage_s: Number | None = None
    level: str | None = None
    steps: list[str] = []


class ExperimentResult(Model):
    """One experiment of a game day: its verdict, every phase's time, the diagnosis, the alert, the checklist."""

    name: str = ""
    title: str | None = None
    fault: str | None = None
    params: dict[str, Any] = {}
    expects_outage: bool | None = None
    status: str | None = None  # passed, failed, aborted (a stop condition), interrupted
    message: str | None = None
    started_at: Number | None = None
    finished_at: Number | None = None
    injected_at: Number | None = None
    fault_in_place_at: Number | None = None
    detected_at: Number | None = None
    resolution_started_at: Number | None = None
    resolution_action: str | None = None
    recovered_at: Number | None = None
    method_ended_at: Number | None = None
    verification_window: dict[str, Number | None] | None = None
    verified_at: Number | None = None
    time_to_detect_s: Number | None = None
    time_to_recover_s: Number | None = None
    time_to_verify_s: Number | None = None
    symptoms_expected: list[str] = []
    symptoms_seen: dict[str, Any] = {}
    checklist: list[ChecklistItem] = []
    prometheus_cross_check: dict[str, Any] | None = None
    diagnosis: Diagnosis | None = None
    alert: Alert | None = None
    advisory: list[str] = []  # what would have failed it under --diagnosis strict
    escalation: Escalation | None = None
    notifications: list[dict[str, Any]] = []
    journal: str | None = None
    notes: list[Any] = []
    signal: str | None = None
    stop: dict[str, Any] | None = None  # the stop condition that ended it (status "aborted")

    _empty_is_none = field_validator("diagnosis", "alert", mode="before")(_none_if_empty)


class Baseline(Model):
    """The background load before the first fault."""

    rps: Number | None = None
    p95_ms: Number | None = None
    error_rate: Number | None = None


class Skipped(Model):
    """An experiment not run: it does not apply to this service on this target, or a stop condition ended the run."""

    name: str
    title: str | None = None
    fault: str | None = None
    reason: str | None = None


class ExperimentScore(Model):
    """One experiment's points (0-1), its severity weight and each part's value (None: not applicable)."""

    name: str
    severity: str
    weight: Number
    points: Number
    parts: dict[str, Number | None] = {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field."""
        return self.model_dump()


class RunScore(Model):
    """The run's 0-100 score (None without experiments), the formula, its weights and the breakdown."""

    score: Number | None = None
    formula: str = SCORE_FORMULA
    parts: dict[str, Number] = {}
    severity: dict[str, Number] = {}
    experiments: list[ExperimentScore] = []

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for report.json: every field."""
        return self.model_dump()


class RegressionGate(Model):
    """``--fail-on-regression``: the gate's lines and the run's exit code after it."""

    lines: list[str] = []
    exit_code: int | None = None


class GameDayReport(Model):
    """A whole game day, as ``report.json`` holds it."""

    status: str = "unknown"  # passed, failed, stopped, interrupted
    message: str | None = None
    target: str | None = None
    base_url: str | None = None
    started_at: Number | None = None
    finished_at: Number | None = None
    wall_time_s: Number | None = None
    baseline: Baseline | None = None
    experiments: list[ExperimentResult] = []
    skipped: list[Skipped] = []
    stopped: list[dict[str, Any]] = []  # gameday.guard.stops.Fired.to_dict()
    guard_blind: list[dict[str, Any]] = []
    diagnosis_mode: str | None = None
    signal: str | None = None
    notifications_failed: list[str] = []
    confusion: dict[str, Any] | None = None
    dry_run: bool | None = None
    ledger_clean: bool | None = None
    load: dict[str, Any] | None = None
    runbook: str | None = None  # the title of the runbook the game day followed
    # added by the history (gameday.history.remember.remember_game_day)
    run_id: str | None = None
    profile: str | None = None
    service_version: str | None = None
    gameday_version: str | None = None
    score: RunScore | None = None
    trends: dict[str, Any] | None = None
    regression_gate: RegressionGate | None = None
    started_iso: str | None = None  # added by the report writer

    _empty_is_none = field_validator("baseline", "score", "regression_gate", mode="before")(_none_if_empty)

    def experiment(self, name: str) -> ExperimentResult | None:
        """The experiment of that name, if the run had it."""
        return next((e for e in self.experiments if e.name == name), None)


def report_schema() -> dict[str, Any]:
    """The JSON schema of ``report.json``, generated from :class:`GameDayReport`."""
    return GameDayReport.model_json_schema()


def write_schema(path: Path = SCHEMA_PATH) -> None:
    """Refresh the copy kept beside the code (a test checks that it matches the model)."""
    path.write_text(json.dumps(report_schema(), indent=2, ensure_ascii=False) + "\n")
