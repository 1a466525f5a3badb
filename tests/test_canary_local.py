"""``gameday canary`` on the local stack, real processes: the bad release rolled back having reached one replica at
most, the good one promoted, the slow one rolled back by latency, an interrupted canary undone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from gameday.ledger import Ledger
from gameday.state import read_json
from gameday.targets.local.rollout import PODS_FILE
from gameday.targets.local.target import LocalTarget
from tests.helpers import interrupt_when, wait_for

pytestmark = pytest.mark.slow


def gameday(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, env=os.environ.copy())


def canary(*args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    res = gameday("canary", *args, "--json")
    try:
        return res, json.loads(res.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON report (exit {res.returncode}): {res.stdout[-500:]} {res.stderr[-1000:]}")


def versions(target: LocalTarget) -> set[str | None]:
    return {r.version for r in target.replicas()}


def test_bad_release_is_rolled_back_at_the_first_step_having_reached_one_replica(healthy: LocalTarget) -> None:
    before = healthy.current_revision()
    assert before is not None
    bad = healthy.bad_release()
    res, report = canary(bad)
    assert res.returncode == 1, res.stderr
    assert report["outcome"] == "rolled back"
    assert len(report["steps"]) == 1 and report["steps"][0]["decision"] == "rollback"
    checks = report["steps"][0]["verdict"]["checks"]
    assert "worse" in (checks["errors"], checks.get("restarts")), checks  # it crashes: its restarts, its errors
    assert len(report["served_new"]) <= 1
    assert report["decision_s"] is not None and report["decision_s"] < 15
    # every replica back on the release it ran, through the rollout history ("rollback to revision N")
    assert versions(healthy) == {before.version}
    assert healthy.current_revision().change_cause == f"rollback to revision {before.number}"  # type: ignore[union-attr]
    assert Ledger(healthy.state.ledger).empty()
    assert healthy.wait_healthy(timeout=30)


def test_good_release_is_promoted_to_every_replica(healthy: LocalTarget) -> None:
    good = healthy.profile.local.releases[0]  # type: ignore[union-attr]
    res, report = canary(good)
    why = [report.get("reason"),
           *[r for step in report.get("steps", []) for r in (step.get("verdict") or {}).get("reasons", [])]]
    assert res.returncode == 0, why
    assert report["outcome"] == "promoted"
    assert [s["decision"] for s in report["steps"]] == ["promote", "promote"]
    for step in report["steps"]:
        assert step["verdict"]["canary"]["requests"] >= 30 and step["verdict"]["primary"]["requests"] >= 30
    assert versions(healthy) == {good}
    assert healthy.current_revision().version == good  # type: ignore[union-attr]
    assert Ledger(healthy.state.ledger).empty()


def test_slow_release_is_rolled_back_by_latency_not_error_rate(healthy: LocalTarget) -> None:
    before = healthy.current_revision()
    slow = healthy.profile.local.slow_release.version  # type: ignore[union-attr]
    res, report = canary(slow)
    assert res.returncode == 1, res.stderr
    assert report["outcome"] == "rolled back"
    checks = report["steps"][-1]["verdict"]["checks"]
    assert checks["latency"] == "worse" and checks["errors"] != "worse"
    assert report["steps"][-1]["verdict"]["median_shift_ms"] > 50
    assert versions(healthy) == {before.version}  # type: ignore[union-attr]


def test_bad_input_changes_nothing(healthy: LocalTarget) -> None:
    history = healthy.history()
    running = healthy.current_revision().version  # type: ignore[union-attr]
    cases = {
        ("9.9.9-nope",): "unknown version",
        (running,): "is the running version",
        (healthy.bad_release(), "--steps", "1,2,3"): "--steps",
        (healthy.bad_release(), "--error-tolerance", "1.5"): "tolerances",
        (healthy.bad_release(), "--confidence", "0.1"): "tolerances",
        # every argument is checked before the first change: the load's users once came after the new revision
        (healthy.bad_release(), "--users", "0"): "load users must be 1-50, got 0",
        (healthy.bad_release(), "--users", "-5", "--json"): "load users must be 1-50, got -5",
        (healthy.bad_release(), "--users", "51", "--steps", "1"): "load users must be 1-50, got 51",
        (healthy.bad_release(), "--step-timeout", "nan", "--json"): "timeouts must be 1-600 s",
        (healthy.bad_release(), "--steps", "1,1", "--json"): "--steps",
        (healthy.bad_release(), "--latency-tolerance-ms", "nan"): "tolerances",
    }
    for args, words in cases.items():
        res = gameday("canary", *args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (args, res.stderr)
        assert "Traceback" not in res.stderr
        assert res.stdout == "", (args, res.stdout)  # no report, not even a partial one with --json
        assert healthy.history() == history, args  # no revision written before the refusal
    assert Ledger(healthy.state.ledger).empty()


def _start_canary(version: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gameday.cli", "canary", version, "--step-timeout", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def _first_replica_switched(target: LocalTarget, version: str) -> bool:
    pods = read_json(target.state.path(*PODS_FILE), {})
    return any(p.get("version") == version for p in pods.values())


def test_sigint_mid_canary_rolls_back_by_itself_and_says_so(healthy: LocalTarget) -> None:
    before = healthy.current_revision()
    good = healthy.profile.local.releases[0]  # type: ignore[union-attr]
    def refused_while_running() -> None:
        second = gameday("canary", good)  # a canary already in progress: refused, nothing changed
        assert second.returncode == 2 and "already in progress" in second.stderr, second.stderr

    proc = _start_canary(good)
    _, stderr = interrupt_when(proc, lambda: _first_replica_switched(healthy, good), 60,
                               "the first replica on the new release", meanwhile=refused_while_running, finish_s=120)
    assert proc.returncode == 130, stderr
    # the interrupted process rolled back by itself, and said so in one line (as SIGTERM's)
    assert stderr.strip().splitlines()[-1] == ("gameday: interrupted; faults of this run were undone (nothing of "
                                                "the canary is left)"), stderr
    assert versions(healthy) == {before.version}  # type: ignore[union-attr]
    assert Ledger(healthy.state.ledger).empty()
    res = gameday("abort")
    assert res.returncode == 0, res.stderr
    assert "undone" not in res.stdout


def test_a_killed_canary_is_undone_by_abort(healthy: LocalTarget) -> None:
    before = healthy.current_revision()
    good = healthy.profile.local.releases[0]  # type: ignore[union-attr]
    proc = _start_canary(good)
    try:
        wait_for(lambda: _first_replica_switched(healthy, good), 60, what="the first replica on the new release")
        proc.kill()  # no chance to roll back: the ledger entry is all that is left
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    entries = Ledger(healthy.state.ledger).entries()
    assert [e.kind for e in entries] == ["canary"]
    assert good in versions(healthy)
    res = gameday("abort")
    assert res.returncode == 0, res.stderr
    assert "undone: canary" in res.stdout
    assert versions(healthy) == {before.version}  # type: ignore[union-attr]
    assert Ledger(healthy.state.ledger).empty()


def test_an_undo_ends_once_a_replica_left_running_but_not_ready_serves_again(healthy: LocalTarget) -> None:
    # an interrupted switch can leave a replica that supervisor calls RUNNING (its start seconds passed) but that
    # does not answer yet; the undo is done once it serves, not once HAProxy was told to take it back
    driver = healthy.canary()
    pid = int(healthy.supervisor.info("replica-0")["pid"])
    thaw_after_s = 4.0  # beyond the load balancer's settle time: returning without waiting would come first
    os.kill(pid, signal.SIGSTOP)
    thaw = threading.Timer(thaw_after_s, os.kill, (pid, signal.SIGCONT))
    thaw.start()
    try:
        began = time.monotonic()
        driver.undo(driver.saved(), timeout=30)
        took = time.monotonic() - began
        url = f"http://127.0.0.1:{healthy.port('replica-0')}{healthy.profile.service.readiness_path}"
        assert httpx.get(url, timeout=2).status_code == 200, f"undo returned after {took:.1f}s, replica not ready"
        assert took >= thaw_after_s - 0.5
    finally:
        thaw.cancel()
        os.kill(pid, signal.SIGCONT)
    assert healthy.wait_healthy(timeout=30)
