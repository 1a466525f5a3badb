"""The typed results: one JSON schema, generated from the models, and the reports stored today still read.

``report.json`` is :class:`gameday.result.GameDayReport` dumped; the history imports reports of older versions and
the bench reads the reports it ran, so a stored report must read into the models and dump back as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from gameday.history.records import from_game_day
from gameday.history.score import Targets, score_run
from gameday.result import SCHEMA_PATH, ExperimentResult, GameDayReport, report_schema

STORED = sorted((Path(__file__).parent / "data" / "history").rglob("*.json"))


def test_the_schema_kept_beside_the_code_is_the_models():
    """``gameday/report.schema.json`` is what the models generate (refresh: ``gameday.result.write_schema()``)."""
    assert json.loads(SCHEMA_PATH.read_text()) == report_schema()


@pytest.mark.parametrize("path", STORED, ids=[p.parent.name if p.name == "report.json" else p.stem for p in STORED])
def test_a_stored_report_validates_and_dumps_back_as_it_was(path):
    data = json.loads(path.read_text())
    jsonschema.validate(data, report_schema())
    report = GameDayReport.model_validate(data)
    assert report.to_dict() == data
    assert report.experiments and all(isinstance(e, ExperimentResult) for e in report.experiments)


def test_an_old_report_without_the_newer_fields_still_reads():
    """A report of a version before the score, the alert, the diagnosis mode: the history still imports it."""
    old = {"status": "passed", "target": "local", "started_at": 1_700_000_000.0, "wall_time_s": 90.0,
           "experiments": [{"name": "all-pods-down", "status": "passed", "time_to_detect_s": 0.4,
                            "time_to_recover_s": 17.0, "diagnosis": {}, "checklist": []}]}
    run = from_game_day(old, Targets())
    (exp,) = run.experiments
    assert run.score == 100.0 and exp.diagnosis_correct is None and exp.alert_expected is None
    assert GameDayReport.of(old).to_dict() == {**old, "experiments": [{**old["experiments"][0], "diagnosis": None}]}


def test_a_result_dumps_only_what_was_set():
    """An alert Prometheus did not answer for keeps its four keys, not every alert field as null."""
    exp = ExperimentResult.of({"name": "x", "alert": {"expected": True, "error": "down", "as_expected": None,
                                                      "not_judged": "Prometheus did not answer (down)"}})
    assert list(exp.to_dict()["alert"]) == ["expected", "error", "as_expected", "not_judged"]


def test_the_score_a_run_is_given_dumps_every_key_as_report_json_keeps_it():
    """Nested in the report, the score keeps its formula too (a default left unset would be dropped)."""
    scored = next(p for p in STORED if "score" in json.loads(p.read_text()))
    report = GameDayReport.model_validate_json(scored.read_text())
    stored = report.to_dict()["score"]
    report.score = score_run(report.experiments, Targets())
    assert list(report.to_dict()["score"]) == list(stored) == ["score", "formula", "parts", "severity", "experiments"]
