"""Issue 20, calibrated to the service: start budgets from what ``up`` measured, a canary's restarts as evidence of
harm, a crash-looping release made from a good one by the launcher. Values and real processes, no stack."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gameday.canary.analysis import Decision, Side, Tolerances, decide
from gameday.canary.scenarios import Expect, judge
from gameday.diagnose.rules import FAILED_DEPLOYMENT, NO_OUTAGE
from gameday.diagnose.rules import decide as diagnose
from gameday.profile import BadRelease
from gameday.targets.local import starts
from gameday.targets.local.programs import free_port
from gameday.targets.local.service import LAUNCHER
from gameday.targets.model import Revision
from gameday.targets.probes import http_status
from tests.diagnose_fakes import PROFILE
from tests.helpers import wait_for
from tests.test_canary_scenarios import report
from tests.test_diagnose_rules import NOW, healthy, kill_events


# --- start budgets -------------------------------------------------------------------------------------------
def test_the_start_budget_is_the_slowest_measured_start_times_the_safety_factor_capped_by_the_profile() -> None:
    shop = starts.budget({starts.STACK_KEY: {"replica-0": 15.2, "replica-1": 18.0, "replica-2": 16.9}}, 90.0)
    assert shop.per_replica_s == 54.0 and shop.measured_s == 18.0
    assert shop.rollout_s(3) == 162.0 and shop.explain(3) == "3 replicas x 54 s"
    assert starts.budget({starts.STACK_KEY: {"replica-0": 18.0}}, 40.0).per_replica_s == 40.0  # the cap
    assert starts.budget({starts.STACK_KEY: {"replica-0": 0.8}}, 90.0).per_replica_s == starts.FLOOR_S
    unmeasured = starts.budget({}, 60.0)  # a stack started before up measured: the profile's own figure
    assert unmeasured.per_replica_s == 60.0 and unmeasured.measured_s is None


def test_a_rollout_past_its_deadline_says_what_every_replica_was_doing() -> None:
    names = ["replica-0", "replica-1", "replica-2"]
    assert starts.rollout_progress(names, 1, "1.5.0", 12.3) == ("replica-0 up on 1.5.0, replica-1 starting for "
                                                                "12 s, replica-2 waiting")
    assert starts.rollout_progress(names, 0, "1.5.0", 0.2) == ("replica-0 starting for 0 s, replica-1 waiting, "
                                                               "replica-2 waiting")


# --- a canary's restarts -----------------------------------------------------------------------------------------
def test_a_canary_that_restarts_more_than_the_primary_is_rolled_back_whatever_its_error_rate() -> None:
    # what the shop's crash-looping canary served: 1.84% of its requests failed, too few to judge by errors alone
    primary = Side(540, 0, tuple([20.0] * 540), restarts=0)
    canary = Side(272, 5, tuple([21.0] * 267), restarts=2)
    verdict = decide(canary, primary, Tolerances())
    assert verdict.decision is Decision.ROLLBACK
    assert verdict.reasons[0] == "canary restarted 2 times, primary 0"
    assert verdict.checks == {"errors": "unknown", "latency": "ok", "restarts": "worse"}
    assert verdict.canary["restarts"] == 2
    without = decide(replace(canary, restarts=0), primary, Tolerances())
    assert without.decision is Decision.INCONCLUSIVE and "restarts" not in without.checks  # what it was before


def test_restarts_no_more_than_the_primarys_are_no_evidence_of_harm() -> None:
    primary = Side(400, 0, tuple([20.0] * 400), restarts=1)
    canary = Side(400, 0, tuple([20.0] * 400), restarts=1)
    verdict = decide(canary, primary, Tolerances())
    assert verdict.decision is Decision.PROMOTE
    assert verdict.checks["restarts"] == "ok" and "canary restarted 1 time, primary 1" in verdict.reasons[-1]


def test_a_scenario_may_expect_either_of_several_checks_and_none_of_the_others() -> None:
    bad = Expect(outcome="rolled back", at_step=1, by=["errors", "restarts"], max_served=1)
    assert judge(bad, report("rolled back", {"errors": "unknown", "latency": "ok", "restarts": "worse"})) == []
    assert judge(bad, report("rolled back", {"errors": "worse", "latency": "unknown"})) == []
    assert judge(bad, report("rolled back", {"errors": "ok", "latency": "worse"}))
    slow = Expect(outcome="rolled back", by="latency")
    assert judge(slow, report("rolled back", {"errors": "ok", "latency": "worse", "restarts": "worse"}))


# --- the diagnosis of a release that dies some seconds after it got ready ----------------------------------------
def test_a_recent_rollout_whose_replicas_restarted_is_a_failed_deployment_even_while_all_are_ready() -> None:
    ev = healthy()
    ev.history = [*ev.history, Revision(2, "1.4.3-crashing", "bad release", NOW - 20)]
    ev.replicas = [replace(r, revision=2, version="1.4.3-crashing", restarts=1 if r.name == "replica-0" else 0,
                           started_at=NOW - 5 if r.name == "replica-0" else NOW - 18) for r in ev.replicas]
    verdict = diagnose(ev, PROFILE)
    assert verdict.kind == FAILED_DEPLOYMENT, verdict.summary
    assert "revision 2 (1.4.3-crashing)" in verdict.summary and "1/3 of its replicas" in verdict.summary
    ev.replicas = [replace(r, restarts=0) for r in ev.replicas]
    assert diagnose(ev, PROFILE).kind == NO_OUTAGE  # a rollout alone is no outage
    ev.replicas = [replace(r, revision=1, version="1.4.2", restarts=1) for r in ev.replicas]
    assert diagnose(ev, PROFILE).kind != FAILED_DEPLOYMENT  # restarts on the older revision do not blame the new one


def test_replicas_restarted_long_after_a_rollout_or_killed_are_not_a_crash_loop() -> None:
    """Measured in a clean-clone run: a healthy shared stack, its last rollout 4 min old, its replicas restarted by
    other tests' kills since, was called a failed deployment. A crash loop is going on now, and a kill is no crash."""
    ev = healthy()
    ev.history = [*ev.history, Revision(2, "1.4.3", "rollout restart", NOW - 251)]
    ev.replicas = [replace(r, revision=2, version="1.4.3", restarts=2, started_at=NOW - 200) for r in ev.replicas]
    assert diagnose(ev, PROFILE).kind == NO_OUTAGE  # restarted minutes ago, running since
    ev.replicas = [replace(r, started_at=NOW - 5) for r in ev.replicas]
    ev.events = kill_events(NOW - 6)  # ... or just now, by a SIGKILL the platform saw
    assert diagnose(ev, PROFILE).kind != FAILED_DEPLOYMENT


# --- the launcher's failing release: real processes ------------------------------------------------------------
def test_the_profile_takes_fail_after_ready_on_the_bad_release_only() -> None:
    assert BadRelease(version="1.4.3-crashing", fail_after_ready_s=10).fail_after_ready_s == 10
    with pytest.raises(ValueError, match="greater than 0"):
        BadRelease(version="1.4.3-crashing", fail_after_ready_s=0)


def test_the_launcher_sigkills_the_release_and_its_workers_after_it_got_ready(tmp_path: Path) -> None:
    port = free_port()
    # a server with a forked worker of its own (as gunicorn's): the kill must take both
    server = ("import http.server, os, signal, sys\n"
              "if os.fork() == 0:\n    signal.pause()  # until a signal ends it: the kill under test\n    os._exit(0)\n"
              "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), "
              "http.server.SimpleHTTPRequestHandler).serve_forever()")
    spec = {"command": [sys.executable, "-c", server, str(port)], "environment": {}, "directory": str(tmp_path),
            "fail_after_ready_s": 1.0, "ready_url": f"http://127.0.0.1:{port}/"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    started = time.monotonic()
    launcher = subprocess.Popen([sys.executable, "-I", "-S", str(LAUNCHER), str(tmp_path / "spec.json")],
                                start_new_session=True)  # a group leader, as supervisor makes it
    try:
        wait_for(lambda: http_status(spec["ready_url"], timeout=0.5) == 200, 15, what="the release ready")
        ready_at = time.monotonic()
        assert launcher.wait(timeout=15) == 128 + signal.SIGKILL  # as a wrapper whose service was SIGKILLed exits
        assert time.monotonic() - ready_at >= 0.5  # not before it was ready a while (polled every 0.2 s)
        wait_for(lambda: http_status(spec["ready_url"], timeout=0.5) is None, 5, what="the release gone")
        assert not _group_alive(launcher.pid), "a process of the release (its forked worker) survived"
    finally:
        if _group_alive(launcher.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(launcher.pid, signal.SIGKILL)
    print(f"killed {time.monotonic() - started:.1f} s after the launch")


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (a killed one not yet reaped is a zombie: not running)."""
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
