"""The game day end to end on the shared local stack: a passing run, a run that cannot recover, Ctrl-C."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from gameday.diagnose.rules import CONFIGURATION_PROBLEM
from gameday.history.store import RunFilter, open_store
from gameday.ledger import Ledger
from gameday.run.session import GameDay, GameDayOptions
from tests.helpers import interrupt_when, status_of, wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments" / "service-outage"


def _options(tmp_path: Path, *experiments: str, **kw) -> GameDayOptions:
    return GameDayOptions(experiments=list(experiments), baseline_s=4, verify_window_s=4, reports_dir=tmp_path,
                          live=False, wait_for_alert=False, **kw)


def test_a_short_game_day_measures_recovers_and_reports(healthy, settings, tmp_path):
    result = GameDay(settings, _options(tmp_path, "postgres-down", "redis-down"), healthy).run()
    report = result.report.to_dict()  # as report.json holds it
    assert result.exit_code == 0, report["message"] + json.dumps(
        [(e["name"], e["message"]) for e in report["experiments"]])
    outage, degraded = report["experiments"]
    assert outage["detected_at"] > outage["injected_at"]
    assert outage["recovered_at"] > outage["resolution_started_at"] >= outage["detected_at"]
    assert outage["verified_at"] > outage["recovered_at"]
    assert outage["symptoms_seen"]["load balancer 503/504"]
    assert outage["diagnosis"]["correct"], outage["diagnosis"]
    assert outage["escalation"]["level"] == "on-call engineer"
    assert [n["kind"] for n in outage["notifications"]][:3] == ["notice", "trigger", "trigger"]
    assert degraded["detected_at"] is None and degraded["diagnosis"]["verdict"] == "dependency-degraded:redis"
    assert all(c["status"] == "pass" for e in report["experiments"] for c in e["checklist"])
    cross = outage["prometheus_cross_check"]  # the verification window, counted by Prometheus too
    assert cross["prometheus"]["error_rate"] is not None and abs(cross["error_rate_difference_pp"]) < 1
    # the verification window opens at the next second after the method proved recovery, not after the steady
    # state after and the rollbacks (they run inside it): no time is spent beside the window the runbook needs
    journal_end = datetime.fromisoformat(json.loads(Path(outage["journal"]).read_text())["end"]).timestamp()
    window = outage["verification_window"]
    assert outage["recovered_at"] < outage["method_ended_at"] <= window["start"] < outage["method_ended_at"] + 1
    assert window["start"] < journal_end and window["end"] - window["start"] >= 4
    # the steady state before the first fault was read off the game day's own load (its baseline seconds), without
    # a burst; the one after the method was measured by the burst (the background's recent seconds held the outage)
    states = json.loads(Path(outage["journal"]).read_text())["steady_states"]
    load = {when: next(c["output"] for c in state["probes"][0]["output"]["checks"] if c["name"].startswith("error"))
            for when, state in states.items() if state}
    assert "background load" in load["before"].get("source", ""), load["before"]
    assert "source" not in load["after"] and load["after"]["requests"] > 0, load["after"]
    for name in ("index.html", "report.json", "junit.xml", "summary.md"):
        assert (result.out_dir / name).exists()
    assert report["ledger_clean"] and Ledger(healthy.state.ledger).empty()


def test_a_game_day_that_cannot_recover_fails_cleans_up_and_says_why(healthy, settings, tmp_path):
    experiment = json.loads((EXPERIMENTS / "postgres-down.json").read_text())
    resolution = {"start_dependency", "wait_until_healthy"}
    experiment["method"] = [a for a in experiment["method"] if a["provider"].get("func") not in resolution]
    broken = tmp_path / "postgres-down-no-resolution.json"
    broken.write_text(json.dumps(experiment))
    result = GameDay(settings, _options(tmp_path, str(broken)), healthy).run()
    assert result.exit_code == 1
    (exp,) = result.report.to_dict()["experiments"]
    assert exp["status"] == "failed" and exp["name"] == "postgres-down-no-resolution"
    assert "steady state not restored" in exp["message"] or "did not come back" in exp["message"]
    assert "postgres-down-no-resolution" in (result.out_dir / "summary.md").read_text()
    assert Ledger(healthy.state.ledger).empty()  # the rollbacks undid the fault
    wait_for(lambda: status_of(healthy.base_url() + "/api/orders/1") in (200, 404), 30, what="postgres back")


def test_ctrl_c_stops_load_undoes_the_fault_and_writes_a_partial_report(healthy, tmp_path):
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(healthy.state.root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gameday.cli", "run", "--no-live", "--no-alert-wait", "--baseline", "5",
         "--reports-dir", str(tmp_path), "postgres-down", "redis-down"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    ledger = Ledger(healthy.state.ledger)
    output, _ = interrupt_when(proc, lambda: any(e.kind == "fault" and e.state == "injected"
                                                 for e in ledger.entries()), 90, "the fault injected")
    assert proc.returncode == 130, output[-2000:]
    assert ledger.empty()
    (report_file,) = tmp_path.glob("*/report.json")
    report = json.loads(report_file.read_text())
    assert report["status"] == "interrupted"
    assert report["experiments"][0]["status"] == "interrupted"
    locusts = subprocess.run(["pgrep", "-f", f"locust.*{tmp_path}"], capture_output=True, text=True).stdout
    assert not locusts.strip(), "locust still running after Ctrl-C"
    wait_for(lambda: healthy.wait_healthy(timeout=1), 30, what="healthy again")


def test_a_game_day_reports_an_experiment_that_does_not_apply_as_skipped(healthy, settings, tmp_path):
    # the reference service's profile without Kafka (the stack is the same; only the catalogue reads the profile)
    text = (ROOT / "profiles" / "ecommerce-backend.yaml").read_text()
    text = "\n".join(ln for ln in text.splitlines() if "KAFKA_BOOTSTRAP" not in ln and "{name: kafka," not in ln)
    profile = tmp_path / "no-kafka.yaml"
    profile.write_text(text.replace(", kafka: kafka}", "}").replace("working_dir: ..", f"working_dir: {ROOT}"))
    no_kafka = type(settings).model_validate({**settings.model_dump(), "profile": profile})  # (a copy keeps the
    # profile already loaded)
    result = GameDay(no_kafka, _options(tmp_path, "kafka-down"), healthy).run()
    report = result.report.to_dict()  # as report.json holds it
    assert result.exit_code == 0 and report["status"] == "passed", report["message"]
    assert report["experiments"] == []
    assert report["skipped"] == [{"name": "kafka-down", "title": report["skipped"][0]["title"],
                                  "fault": "stop-dependency", "reason": "ecommerce-backend has no kafka dependency"}]
    assert "- kafka-down: ecommerce-backend has no kafka dependency" in (result.out_dir / "summary.md").read_text()
    assert Ledger(healthy.state.ledger).empty()


@pytest.mark.parametrize("mode", ["strict", "advisory"])
def test_a_wrong_diagnosis_fails_the_game_day_unless_advisory(healthy, settings, tmp_path, mode):
    # redis-down's expectation overridden: the stack's real diagnosis (dependency-degraded:redis) is now wrong
    history = settings.history.model_copy(update={"url": f"sqlite:///{tmp_path / 'history.db'}"})
    own = settings.model_copy(update={"history": history})
    day = GameDay(own, _options(tmp_path, "redis-down", diagnosis=mode, fail_on_regression=True), healthy)
    day.entries = [dataclasses.replace(e, expected_verdict=CONFIGURATION_PROBLEM) for e in day.entries]
    result = day.run()
    report = result.report.to_dict()  # as report.json holds it
    (exp,) = report["experiments"]
    assert exp["diagnosis"]["verdict"] == "dependency-degraded:redis" and not exp["diagnosis"]["correct"]
    wrong = f"diagnosis wrong: dependency-degraded:redis, expected {CONFIGURATION_PROBLEM}"
    summary = (result.out_dir / "summary.md").read_text()
    assert f"diagnosis {mode}" in summary.splitlines()[0] and report["diagnosis_mode"] == mode
    if mode == "strict":
        assert result.exit_code == 1 and report["status"] == "failed", report["message"]
        assert exp["status"] == "failed" and exp["message"] == wrong
        assert report["message"].startswith("failed: redis-down; diagnosis strict: 0/1 diagnoses right")
    else:
        assert result.exit_code == 0 and exp["status"] == "passed", report["message"]
        assert exp["advisory"] == [wrong] and f"advisory, not gating: redis-down: {wrong}" in report["message"]
        assert f"- redis-down: {wrong}" in summary
    # the regression gate had no history: it passes the run, saying so in the report and its headline
    (gate,) = report["regression_gate"]["lines"]
    assert gate.endswith("not judged: 0 of 5 runs (redis-down verify)"), gate
    assert "not judged: 0 of 5 runs" in summary.splitlines()[0]
    store = open_store(history.url)
    try:
        (run,) = store.runs(RunFilter(kind="run"))  # the history says which mode judged the run
    finally:
        store.close()
    assert f"diagnosis {mode}: 0/1 diagnoses right" in (run.message or "")
    assert Ledger(healthy.state.ledger).empty()
