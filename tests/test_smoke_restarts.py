"""The smoke gate reports every replica restart it saw in its window, and fails above ``slo.max_restarts``.

Issue 25, item 10: a replica killed (kill -9) during ``gameday smoke`` and restarted by supervisor cost one request
in 572, and the gate passed without a word of the restart. The restart must be named from the platform's own view
(supervisor's restart count and pid), and a profile that allows no restarts during the gate must fail it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from gameday.config import Settings
from gameday.targets.model import Replica
from gameday.verify.checklist import CHECKLIST, with_restarts
from gameday.verify.cli import print_report
from gameday.verify.restarts import Restart, restarts_between
from gameday.verify.smoke import Attempt, SmokeReport, run_smoke
from gameday.verify.verdicts import Status, Verdict
from tests.helpers import wait_for
from tests.local_profiles import ecommerce

REPO = Path(__file__).resolve().parents[1]
LOAD_STARTED = 50  # requests through the load balancer beyond those before: the smoke's load window is running


def _replica(name: str, restarts: int, pid: int | None) -> Replica:
    return Replica(name, "Running" if pid else "Terminated", pid is not None, restarts, pid=pid)


# --- the comparison and the verdict: values, no stack -----------------------------------------------------------
def test_a_grown_count_a_new_pid_a_dead_process_and_a_gone_pod_are_restarts() -> None:
    before = [_replica("a", 0, 10), _replica("b", 2, 20), _replica("c", 0, 30), _replica("d", 0, 40),
              _replica("e", 1, 50)]
    after = [_replica("a", 0, 10), _replica("b", 3, 21), _replica("c", 0, 31), _replica("d", 0, None),
             _replica("new", 0, 60)]
    seen = restarts_between(before, after)
    assert [(r.replica, r.restarts, r.gone) for r in seen] == [("b", 1, False), ("c", 0, False), ("d", 0, False),
                                                               ("e", 0, True)]
    assert [r.describe() for r in seen] == ["b 1 restart (pid 20 -> 21)", "c 1 restart (pid 30 -> 31)",
                                            "d 1 restart (pid 40 -> none)", "e gone"]
    assert restarts_between(before, before) == []


def test_restarts_are_named_whatever_is_allowed_and_fail_the_line_above_the_limit() -> None:
    pods = Verdict("all pods running", Status.PASS, {}, "3/3 replicas Running and ready", "pods-running")
    seen = [Restart("replica-0", 1, 4242, 4310)]
    allowed = with_restarts(pods, seen, None)
    assert allowed.passed
    assert allowed.explanation == ("3/3 replicas Running and ready; restarted during the gate: replica-0 1 restart "
                                   "(pid 4242 -> 4310)")
    assert allowed.measured["restarted_during_window"][0]["replica"] == "replica-0"
    assert with_restarts(pods, seen, 1).passed
    refused = with_restarts(pods, seen, 0)
    assert refused.status is Status.FAIL and refused.explanation.endswith("(1 restart, slo.max_restarts allows 0)")
    assert with_restarts(pods, [], 0) == Verdict(pods.name, Status.PASS, {"restarted_during_window": [],
                                                                          "max_restarts": 0}, pods.explanation,
                                                 pods.item)


def test_the_printed_report_ends_naming_the_restarted_replica(capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = [Verdict(i.name, Status.PASS, {}, "ok", i.id) for i in CHECKLIST]
    attempt = Attempt("verification", verdicts, None, 1.0, restarts=[Restart("replica-2", 1, 7, 8)])
    print_report(SmokeReport("local", "http://127.0.0.1:1", [attempt], None, 2.0))
    assert capsys.readouterr().out.splitlines()[-1] == "smoke PASSED in 2.0 s; restarted during the gate: replica-2"
    assert attempt.to_dict()["restarts"] == [{"replica": "replica-2", "restarts": 1, "pid_before": 7,
                                              "pid_after": 8, "gone": False}]


# --- a real kill -9 during a real smoke, on the local stack -----------------------------------------------------
def _sessions(target: Any) -> int:
    """Requests the load balancer has given the service's backend (health checks are not sessions)."""
    rows = csv.DictReader(io.StringIO(target.lb_runtime.command("show stat").lstrip("# ")))
    return sum(int(r["stot"] or 0) for r in rows
               if r["pxname"] == target.lb_runtime.backend and r["svname"] == "BACKEND")


def _kill_during_the_window(target: Any, victim: str) -> int:
    """Once the smoke's load is flowing, kill -9 the victim's process (as an SRE would); its pid."""
    pid = next(r.pid for r in target.replicas() if r.name == victim)
    assert pid, f"{victim} has no process"
    start = _sessions(target)
    wait_for(lambda: _sessions(target) >= start + LOAD_STARTED, 30, interval=0.02, what="the smoke's load window")
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.mark.slow
def test_smoke_names_a_replica_killed_during_its_window(healthy: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GAMEDAY_PROFILE", "TARGET", "GAMEDAY_TARGET")}
    env["GAMEDAY_STATE_DIR"] = str(healthy.state.root)
    proc = subprocess.Popen([sys.executable, "-m", "gameday.cli", "smoke", "--json", "--users", "1"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pid = _kill_during_the_window(healthy, "replica-1")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    report = json.loads(out)
    first = report["attempts"][0]
    assert [(r["replica"], r["pid_before"]) for r in first["restarts"]] == [("replica-1", pid)], (first, err)
    pods = next(v for v in first["verdicts"] if v["item"] == "pods-running")
    assert pods["status"] == "pass", pods  # the default (slo.max_restarts: null) allows it, and says it
    assert f"restarted during the gate: replica-1 1 restart (pid {pid} -> " in pods["explanation"], pods


@pytest.mark.slow
def test_a_profile_allowing_no_restarts_fails_the_smoke_saying_why(healthy: Any, settings: Settings,
                                                                   tmp_path: Path) -> None:
    def no_restarts(data: dict[str, Any]) -> None:
        data.setdefault("slo", {})["max_restarts"] = 0

    strict = type(settings).model_validate({**settings.model_dump(), "profile": ecommerce(tmp_path, no_restarts)})
    assert strict.service.slo.max_restarts == 0
    result: list[SmokeReport] = []
    smoke = threading.Thread(target=lambda: result.append(run_smoke(healthy, strict, users=1)))
    smoke.start()
    try:
        pid = _kill_during_the_window(healthy, "replica-0")
    finally:
        smoke.join(timeout=60)
    (report,) = result
    assert report.exit_code == 1 and not report.passed
    pods = next(v for v in report.attempts[0].verdicts if v.item == "pods-running")
    assert pods.status is Status.FAIL, pods.line()
    assert f"replica-0 1 restart (pid {pid} -> " in pods.explanation, pods.line()
    assert pods.explanation.endswith("(1 restart, slo.max_restarts allows 0)"), pods.line()
