"""The experiments: one per outage cause the runbook names, valid, target-neutral, and passing end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gameday.chaos import lint, runner
from gameday.chaos.journal import verdict_from_journal
from gameday.config import get_settings
from gameday.ledger import Ledger

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
CHAOS = str(Path(sys.executable).with_name("chaos"))
SYMPTOMS = ["health_check_failing", "lb_503_504", "all_endpoints_failing", "zero_success"]

# experiment -> (fault, its parameters that matter, resolution functions in order, outage symptoms expected)
TABLE: dict[str, tuple[str, dict[str, Any], list[str], bool]] = {
    "all-pods-down": ("kill-replicas", {"rounds": 16, "interval": 0.5}, ["replica_logs", "rollout_restart"], True),
    "failed-deployment": ("bad-release", {}, ["rollout_undo"], True),
    "bad-config": ("bad-config", {}, ["restore_previous_config", "rollout_restart"], True),
    "postgres-down": ("stop-dependency", {"dependency": "postgres"}, ["start_dependency"], True),
    "redis-down": ("stop-dependency", {"dependency": "redis"}, ["start_dependency"], False),
    "kafka-down": ("stop-dependency", {"dependency": "kafka"}, ["start_dependency", "events_delivered"], False),
    "dependency-hang": ("freeze-replicas", {}, ["thaw_replicas", "rollout_restart"], True),
}


def load(name: str) -> dict[str, Any]:
    return json.loads((EXPERIMENTS / f"{name}.json").read_text())


def funcs(activities: list[dict[str, Any]]) -> list[str]:
    return [a["provider"]["func"] for a in activities]


def test_there_is_one_experiment_per_outage_cause() -> None:
    assert sorted(p.stem for p in lint.available()) == sorted(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_chaos_validate_passes(name: str, tmp_path: Path) -> None:
    command = [CHAOS, "--no-version-check", "--no-log-file", "validate", str(EXPERIMENTS / f"{name}.json")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "look valid" in result.stderr + result.stdout


@pytest.mark.parametrize("name", sorted(TABLE))
def test_experiment_shape(name: str) -> None:
    fault, params, resolution, outage = TABLE[name]
    exp = load(name)
    lint.check_vocabulary(exp, name)
    # steady state: the runbook's Verification, each probe judged on its "ok"
    probes = exp["steady-state-hypothesis"]["probes"]
    assert {"health_checks_pass", "smoke_endpoints_answer", "load_within_slo"} <= set(funcs(probes))
    assert all(p["tolerance"] == {"type": "jsonpath", "path": "$.ok", "expect": True} for p in probes)
    load_probe = next(p for p in probes if p["provider"]["func"] == "load_within_slo")
    assert load_probe["provider"]["arguments"]["requests"] <= 500  # small: the machine is shared
    # method: the fault first, through the ledgered vocabulary, then the symptoms, then the resolution
    method = exp["method"]
    first = method[0]["provider"]
    assert first["func"] == "inject_fault" and first["arguments"]["fault"] == fault
    assert params.items() <= first["arguments"]["params"].items()
    steps = funcs(method)
    if outage:
        assert steps[1] == "outage_symptoms_observed"
        assert "degraded_but_serving" not in steps
    else:  # the runbook's Prevention keeps it up: the experiment says so and asserts that instead
        assert steps[1] == "degraded_but_serving" and "outage_symptoms_observed" not in steps
        assert "prevention-keeps-serving" in exp["tags"] and "degraded" in exp["description"]
    positions = [steps.index(f) for f in resolution]
    assert positions == sorted(positions) and positions[0] > 1
    assert steps[-1] == "wait_until_healthy"
    # rollbacks: the same fault undone through the ledger
    assert [(r["provider"]["func"], r["provider"]["arguments"]) for r in exp["rollbacks"]] == [
        ("undo_faults", {"fault": fault})]


@pytest.mark.parametrize("name", sorted(TABLE))
def test_experiments_are_target_neutral(name: str) -> None:
    text = (EXPERIMENTS / f"{name}.json").read_text()
    for word in ("127.0.0.1", "localhost", "http://", "https://", "state_dir", "kind-gameday", "context"):
        assert word not in text, f"{name} names {word!r}: the target comes from configuration"
    for activity in lint.activities(load(name)):
        assert activity["provider"]["type"] == "python"
        assert activity["provider"]["module"] in lint.EXTENSION_MODULES


def test_the_hang_experiment_explains_its_choice() -> None:
    exp = load("dependency-hang")
    assert "hang-dependency" in exp["description"] and "503" in exp["description"] and "504" in exp["description"]
    symptoms = next(a for a in exp["method"] if a["provider"]["func"] == "outage_symptoms_observed")
    assert sorted(symptoms["provider"]["arguments"]["expect_codes"]) == [503, 504]


# --- end to end on the local target -------------------------------------------------------------------
def artefact(name: str) -> Path:
    reports = Path(get_settings().reports_dir)
    reports = reports if reports.is_absolute() else ROOT / reports
    return reports / "chaos" / "tests" / f"{name}.json"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TABLE))
def test_experiment_runs_end_to_end(name: str, healthy: Any) -> None:
    result = runner.run(name, journal_path=artefact(name))
    print(f"\n{result.line()}\njournal: {result.journal_path}")
    journal = json.loads(result.journal_path.read_text())  # the artefact on disk is the whole journal
    assert result.ok, f"{result.message} (journal {result.journal_path})"
    assert verdict_from_journal(journal)[0]
    assert journal["steady_states"]["before"]["steady_state_met"]
    assert journal["steady_states"]["after"]["steady_state_met"]
    outputs = {r["activity"]["name"]: r["output"] for r in journal["run"]}
    assert all(r["status"] == "succeeded" for r in journal["run"])
    if TABLE[name][3]:
        assert outputs["runbook-symptoms-observed"]["observed"] == SYMPTOMS
        assert outputs["runbook-symptoms-observed"]["lb_codes_seen"]
    else:
        degraded = outputs["degraded-but-serving"]
        assert degraded["readyz_status"] == "degraded" and len(degraded["orders_accepted"]) == 3
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert journal["gameday"]["cleanup"] == []  # the rollbacks had already undone everything
    assert Ledger(healthy.state.ledger).empty()
    assert healthy.wait_healthy(timeout=10)


@pytest.mark.slow
def test_plain_chaos_run_with_rollbacks_always_works(healthy: Any, tmp_path: Path) -> None:
    # exactly the documented command; --no-version-check only keeps chaostoolkit off the network
    result = subprocess.run([CHAOS, "--no-version-check", "run", "--rollback-strategy", "always",
                             str(EXPERIMENTS / "redis-down.json")],
                            capture_output=True, text=True, timeout=180, cwd=tmp_path,
                            env={**os.environ, "GAMEDAY_STATE_DIR": str(healthy.state.root)})
    journal = json.loads((tmp_path / "journal.json").read_text())
    ok, message = verdict_from_journal(journal)
    print(f"\nchaos run: exit {result.returncode}, {message}; journal: {tmp_path / 'journal.json'}")
    assert ok, message
    assert result.returncode == 0
    assert Ledger(healthy.state.ledger).empty()
