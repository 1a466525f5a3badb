"""verdict_from_journal: the journal, not chaos run's exit code, decides (synthetic journals, no stack)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gameday.chaos.journal import verdict_from_journal


def _probe(name: str, ok: bool = True, status: str = "succeeded") -> dict[str, Any]:
    run: dict[str, Any] = {"activity": {"name": name}, "status": status, "tolerance_met": ok, "output": {"ok": ok}}
    if status != "succeeded":
        run["exception"] = ["Traceback...\n", f"chaoslib.exceptions.ActivityFailed: {name} broke\n"]
    return run


def _state(*probes: dict[str, Any]) -> dict[str, Any]:
    return {"steady_state_met": all(p["tolerance_met"] and p["status"] == "succeeded" for p in probes),
            "probes": list(probes)}


GOOD: dict[str, Any] = {
    "status": "completed",
    "deviated": False,
    "steady_states": {"before": _state(_probe("health")), "after": _state(_probe("health")), "during": []},
    "run": [
        {"activity": {"name": "inject-kill-replicas"}, "status": "succeeded", "output": {"id": "x"}},
        {"activity": {"name": "runbook-symptoms-observed"}, "status": "succeeded",
         "output": {"observed": ["zero_success"], "after_s": 1.5}},
    ],
    "rollbacks": [{"activity": {"name": "undo-kill-replicas"}, "status": "succeeded", "output": []}],
}


def journal(**changes: Any) -> dict[str, Any]:
    j = copy.deepcopy(GOOD)
    j.update(changes)
    return j


def test_a_clean_run_passes_and_says_what_was_observed() -> None:
    ok, message = verdict_from_journal(journal())
    assert ok
    assert "steady state met before and after" in message
    assert "symptoms observed after 1.5s" in message


def test_steady_state_failing_before_the_method_is_a_failure_with_its_own_message() -> None:
    # what chaos run exits 0 for: the method never ran
    j = journal(status="completed", run=[], rollbacks=[])
    j["steady_states"] = {"before": _state(_probe("health-checks-pass", ok=False)), "after": None, "during": []}
    ok, message = verdict_from_journal(j)
    assert not ok
    assert message.startswith("system not healthy before the experiment")
    assert "health-checks-pass (out of tolerance)" in message


def test_a_probe_that_raised_before_the_method_is_named_with_its_error() -> None:
    j = journal(status="failed", run=[])
    j["steady_states"] = {"before": _state(_probe("load", ok=False, status="failed")), "after": None}
    ok, message = verdict_from_journal(j)
    assert not ok and "system not healthy before the experiment: load (error:" in message
    assert "load broke" in message


def test_a_method_step_that_failed_fails_the_run_even_though_chaostoolkit_says_completed() -> None:
    j = journal()
    j["run"][1] = {"activity": {"name": "runbook-symptoms-observed"}, "status": "failed",
                   "exception": ["gameday.chaos.probes.ProbeFailed: symptoms not observed within 20s\n"]}
    ok, message = verdict_from_journal(j)
    assert not ok
    assert "method step 'runbook-symptoms-observed' failed" in message
    assert "symptoms not observed within 20s" in message


def test_deviation_after_the_method_fails() -> None:
    j = journal(deviated=True)
    j["steady_states"]["after"] = _state(_probe("smoke", ok=False))
    ok, message = verdict_from_journal(j)
    assert not ok and message.startswith("steady state not restored after the method: smoke")


@pytest.mark.parametrize("status", ["interrupted", "aborted"])
def test_interrupted_or_aborted_runs_fail(status: str) -> None:
    j = journal(status=status)
    j["gameday"] = {"signals": [{"signal": "SIGTERM", "phase": "method"}], "cleanup": []}
    ok, message = verdict_from_journal(j)
    assert not ok
    assert ("SIGTERM during method" in message) if status == "interrupted" else message.startswith("aborted")


def test_a_failed_rollback_fails_the_run() -> None:
    j = journal()
    j["rollbacks"][0] = {"activity": {"name": "undo-kill-replicas"}, "status": "failed", "exception": ["boom\n"]}
    ok, message = verdict_from_journal(j)
    assert not ok and "rollback 'undo-kill-replicas' failed: boom" in message


def test_a_fault_left_in_the_ledger_fails_the_run_and_says_how_to_clear_it() -> None:
    j = journal()
    j["gameday"] = {"cleanup": [{"fault": "stop-dependency(dependency=postgres)", "undone": False}], "signals": []}
    ok, message = verdict_from_journal(j)
    assert not ok
    assert "NOT undone: stop-dependency(dependency=postgres)" in message and "gameday abort" in message


@pytest.mark.parametrize("bad", [None, {}, {"status": "completed"}, "not a journal"])
def test_no_journal_is_not_a_pass(bad: Any) -> None:
    assert verdict_from_journal(bad)[0] is False


def test_the_steady_state_not_checked_after_the_method_fails() -> None:
    j = journal()
    j["steady_states"]["after"] = None
    assert verdict_from_journal(j) == (False, "steady state not checked after the method")


def test_a_degraded_run_says_so_and_reports_failing_samples() -> None:
    j = journal()
    j["run"][1] = {"activity": {"name": "degraded-but-serving"}, "status": "succeeded",
                   "output": {"unaffected": {"endpoints": ["catalogue"], "journeys": ["checkout"]},
                              "journeys_completed": 3, "dependency": "kafka", "after_s": 7.5, "samples_before": 2}}
    ok, message = verdict_from_journal(j)
    assert ok
    assert "degraded but serving after 7.5s (kafka down, 3 journeys completed; requests failed in 2 earlier " \
        "sample(s))" in message


def test_a_steady_state_that_fails_names_the_runbook_checks_that_failed() -> None:
    j = journal()
    j["steady_states"]["before"] = {"steady_state_met": False, "probes": [{
        "activity": {"name": "runbook-steady-state"}, "status": "succeeded", "tolerance_met": False,
        "output": {"ok": False, "checks": [{"name": "health-checks-pass", "ok": True, "output": {"ok": True}},
                                           {"name": "error-rate-below-1pct", "ok": False,
                                            "output": {"ok": False, "error": "ProbeFailed: 3% errors"}}]}}]}
    ok, message = verdict_from_journal(j)
    assert not ok
    assert message == ("system not healthy before the experiment: runbook-steady-state "
                       "(failed: error-rate-below-1pct: ProbeFailed: 3% errors)")


def test_a_check_that_is_not_ok_is_named_with_its_reason() -> None:
    j = journal()
    j["steady_states"]["after"] = {"steady_state_met": False, "probes": [{
        "activity": {"name": "runbook-steady-state"}, "status": "succeeded", "tolerance_met": False,
        "output": {"ok": False, "checks": [{"name": "error-rate-below-1pct-and-latency-normal", "ok": False,
                                            "output": {"ok": False, "reason": "latency: p95 300 ms above 120 ms"}}]}}]}
    ok, message = verdict_from_journal(j)
    assert not ok
    assert message.endswith("(failed: error-rate-below-1pct-and-latency-normal: latency: p95 300 ms above 120 ms)")
