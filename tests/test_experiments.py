"""The experiments: one per outage cause the runbook names, valid, target-neutral, and passing end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gameday.chaos import defaults, lint, runner, steady
from gameday.chaos.catalogue import catalogue
from gameday.chaos.journal import verdict_from_journal
from gameday.config import get_settings
from gameday.ledger import Ledger
from gameday.runbook.package import find

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments" / "service-outage"
CHAOS = str(Path(sys.executable).with_name("chaos"))

# experiment -> (fault, its parameters that matter, resolution functions in order, outage symptoms expected)
TABLE: dict[str, tuple[str, dict[str, Any], list[str], bool]] = {
    "all-pods-down": ("kill-replicas", {"rounds": 16, "interval": 0.5}, ["replica_logs", "rollout_restart"], True),
    "failed-deployment": ("bad-release", {}, ["rollout_undo"], True),
    "bad-config": ("bad-config", {}, ["restore_previous_config", "rollout_restart"], True),
    "postgres-down": ("stop-dependency", {"dependency": "postgres"}, ["start_dependency"], True),
    "redis-down": ("stop-dependency", {"dependency": "redis"}, ["start_dependency"], False),
    "kafka-down": ("stop-dependency", {"dependency": "kafka"}, ["start_dependency", "events_delivered"], False),
    "dependency-hang": ("dependency-blackhole", {"dependency": "postgres"}, ["restore_dependency_link"], True),
    # the network faults, through the fault proxy; their resolution lifts the fault (the network path restored)
    "dependency-blackhole": ("dependency-blackhole", {"dependency": "redis"}, ["restore_dependency_link"], False),
    "dependency-partition": ("dependency-partition", {"dependency": "redis"}, ["restore_dependency_link"], False),
    "dependency-latency": ("dependency-latency", {"dependency": "redis"}, ["restore_dependency_link"], False),
    "dependency-flaky": ("dependency-flaky", {"dependency": "redis"}, ["restore_dependency_link"], False),
    "dependency-bandwidth": ("dependency-bandwidth", {"dependency": "redis"}, ["restore_dependency_link"], False),
    # the runbook's dependency resilience: each checks a promise of the profile (tests/test_resilience_promises.py)
    "dependency-slow-breaker": ("dependency-latency", {"dependency": "redis", "ms": 1000},
                                ["restore_dependency_link"], False),
    "dependency-flaky-retries": ("dependency-flaky", {"dependency": "redis"}, ["restore_dependency_link"], False),
    "dependency-degraded-fallback": ("dependency-partition", {"dependency": "redis"}, ["restore_dependency_link"],
                                     False),
}
# the promise experiments' probe right after the fault (the promise it checks, from users' side)
PROMISES = {"dependency-slow-breaker": "breaker_fails_fast", "dependency-flaky-retries": "retries_absorb_resets",
            "dependency-degraded-fallback": "fallback_as_promised"}
CUTS = ("stop-dependency", "dependency-blackhole", "dependency-partition")  # the dependency lost: its on_outage
SLOWS = ("dependency-latency", "dependency-flaky", "dependency-bandwidth")  # the service keeps serving


def load(name: str) -> dict[str, Any]:
    return json.loads((EXPERIMENTS / f"{name}.json").read_text())


def funcs(activities: list[dict[str, Any]]) -> list[str]:
    return [a["provider"]["func"] for a in activities]


def test_there_is_one_experiment_per_outage_cause() -> None:
    assert sorted(p.stem for p in lint.available("service-outage")) == sorted(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_chaos_validate_passes(name: str, tmp_path: Path) -> None:
    command = [CHAOS, "--no-version-check", "--no-log-file", "validate", str(EXPERIMENTS / f"{name}.json")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "look valid" in result.stderr + result.stdout


@pytest.mark.parametrize("name", sorted(TABLE))
def test_experiment_shape(name: str) -> None:
    fault, params, resolution, outage = TABLE[name]
    written = load(name)
    exp = lint.load(EXPERIMENTS / f"{name}.json")  # as chaostoolkit runs it: the runbook's defaults filled in
    lint.check_vocabulary(exp, name)
    # the file states only what differs from its runbook: it names the runbook once and takes the runbook's
    # steady state and rollbacks through the control; the fault is named once (the inject_fault's argument)
    assert written["configuration"] == {"gameday_runbook": "service-outage"}
    assert written["controls"] == [defaults.CONTROL]
    assert "steady-state-hypothesis" not in written and "rollbacks" not in written
    assert lint.findings(EXPERIMENTS / f"{name}.json") == []
    # steady state: one probe, the runbook package's (its Verification)
    probes = exp["steady-state-hypothesis"]["probes"]
    assert [(p["provider"]["module"], p["provider"]["func"]) for p in probes] == [("gameday.chaos.steady",
                                                                                   "steady_state")]
    assert probes[0]["tolerance"] == {"type": "jsonpath", "path": "$.ok", "expect": True}
    assert "arguments" not in probes[0]["provider"]
    # the fault is stated once: the method's inject_fault (no tag, no extension)
    assert "extensions" not in exp and not [t for t in exp["tags"] if t.startswith(("fault:", "symptoms:"))]
    # method: the fault first, through the ledgered vocabulary, then the symptoms, then the resolution
    method = exp["method"]
    first = method[0]["provider"]
    assert first["func"] == "inject_fault" and first["arguments"]["fault"] == fault
    assert params.items() <= first["arguments"]["params"].items()
    steps = funcs(method)
    if name in PROMISES:
        assert steps[1] == PROMISES[name] and "recovers_within_slo" in steps
    elif fault in CUTS and name != "kafka-down":
        # outage or degraded is the profile's on_outage, not the experiment's: one probe asks the profile
        assert steps[1] == "dependency_loss_observed"
        assert method[1]["provider"]["arguments"]["dependency"] == params["dependency"]
        assert "on_outage" in exp["description"]
    elif fault in SLOWS:
        assert steps[1] == "smoke_endpoints_answer" and "outage_symptoms_observed" not in steps
    elif outage:
        assert steps[1] == "outage_symptoms_observed"
        assert "degraded_but_serving" not in steps
    else:  # the outbox keeps orders while Kafka is down: degraded, and the events follow once it is back
        assert steps[1] == "degraded_but_serving" and "outage_symptoms_observed" not in steps
        assert "prevention-keeps-serving" in exp["tags"] and "degraded" in exp["description"]
    positions = [steps.index(f) for f in resolution]
    assert positions == sorted(positions) and positions[0] > 1
    assert steps[-1] == "wait_until_healthy"
    # rollbacks: this run's faults undone through the ledger (the fault is not named again)
    assert [(r["provider"]["func"], r["provider"].get("arguments")) for r in exp["rollbacks"]] == [
        ("undo_faults", None)]


def test_the_steady_state_is_the_runbook_packages() -> None:
    package = find("service-outage")
    checks = steady.checks(package)
    assert [probe.__name__ for _, probe, _ in checks] == [
        "no_faults_from_other_runs", "health_checks_pass", "smoke_endpoints_answer", "load_within_slo"]
    load_args = next(args for _, probe, args in checks if probe.__name__ == "load_within_slo")
    assert load_args == {}  # the profile's own load, for as long as its verify.window_s allows: no fixed burst
    assert {p.stem for p in package.experiments()} == set(TABLE)


def test_the_catalogue_takes_outage_and_verdict_from_the_fault_and_the_profile() -> None:
    profile = get_settings().service
    entries = {e.name: e for e in catalogue(None, profile, "local")}
    assert {n: e.expects_outage for n, e in entries.items()} == {n: row[3] for n, row in TABLE.items()}
    assert entries["postgres-down"].expected_verdict == "dependency-failure:postgres"
    assert entries["redis-down"].expected_verdict == "dependency-degraded:redis"
    assert entries["all-pods-down"].expected_verdict == "all-replicas-down"
    assert not any(e.skip for e in entries.values())


@pytest.mark.parametrize("name", sorted(TABLE))
def test_experiments_are_target_neutral(name: str) -> None:
    text = (EXPERIMENTS / f"{name}.json").read_text()
    for word in ("127.0.0.1", "localhost", "http://", "https://", "state_dir", "kind-gameday", "context"):
        assert word not in text, f"{name} names {word!r}: the target comes from configuration"
    for activity in lint.activities(load(name)):
        assert activity["provider"]["type"] == "python"
        assert activity["provider"]["module"] in lint.EXTENSION_MODULES


def test_the_hang_experiment_hangs_the_critical_dependency_not_the_replicas() -> None:
    exp = load("dependency-hang")
    assert "freeze-replicas" not in funcs(exp["method"]) and "thaw_replicas" not in funcs(exp["method"])
    injected = exp["method"][0]["provider"]["arguments"]
    assert injected == {"fault": "dependency-blackhole", "params": {"dependency": "postgres"}}
    assert "504" in exp["description"] and "dependency-hang:postgres" in exp["description"]
    checks = next(a for a in exp["method"] if a["provider"]["func"] == "check_dependencies")
    assert checks["provider"]["arguments"] == {"expect_down": ["postgres"]}


# --- end to end on the local target -------------------------------------------------------------------
def artefact(name: str) -> Path:
    reports = Path(get_settings().reports_dir)
    reports = reports if reports.is_absolute() else ROOT / reports
    return reports / "chaos" / "tests" / f"{name}.json"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in TABLE if TABLE[n][0] not in SLOWS and n != "dependency-partition"
                                  and n not in PROMISES])
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
    seen = outputs.get("runbook-symptoms-observed") or outputs.get("degraded-but-serving") \
        or outputs["dependency-loss-as-profiled"]
    if TABLE[name][3]:
        probe = next((a for a in load(name)["method"] if a["provider"].get("func") == "outage_symptoms_observed"), None)
        required = (probe or {}).get("provider", {}).get("arguments", {}).get("symptoms_required") \
            or find("service-outage").symptoms
        assert set(required) <= set(seen["observed"]) and seen["lb_codes_seen"], seen
    else:
        assert seen["sample"]["serving"] and seen["journeys_completed"] >= 1, seen
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
