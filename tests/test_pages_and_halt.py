"""Nothing left open: every page a game day opens is resolved whatever ends the run (SIGINT, SIGTERM, ``gameday
halt``, SIGKILL then ``gameday abort``), before the command that ends it exits; a halt of a live (not frozen) run
undoes its faults at once and still lets the run write its partial report (issue 25, items 2 and 6)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gameday.ledger import Ledger
from tests.helpers import wait_for
from tests.pager import Pager, serving_pager

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments" / "service-outage"
ROUTING_KEY = "R0UT1NG-KEY-halt-secret"
SLACK_PATH = "/services/T000/B000/halt-secret-token"


@pytest.fixture
def pager() -> Iterator[Pager]:
    with serving_pager(ROUTING_KEY, SLACK_PATH) as server:
        yield server


@pytest.fixture
def no_resolution(tmp_path: Path) -> Path:
    """postgres-down without its resolution: the outage (and its page) lasts until something ends the run."""
    experiment = json.loads((EXPERIMENTS / "postgres-down.json").read_text())
    resolution = {"start_dependency", "wait_until_healthy"}
    experiment["method"] = [a for a in experiment["method"] if a["provider"].get("func") not in resolution]
    experiment["method"][0]["pauses"] = {"after": 60}
    path = tmp_path / "postgres-down-no-resolution.json"
    path.write_text(json.dumps(experiment))
    return path


def _env(pager: Pager) -> dict[str, str]:
    return {**os.environ, **pager.env()}


def _gameday(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=90)


def _paged_run(pager: Pager, tmp_path: Path, experiment: Path) -> subprocess.Popen[str]:
    """A game day, started as from a shell (its own process group), that has paged: its outage is on."""
    run = subprocess.Popen(
        [sys.executable, "-m", "gameday.cli", "run", "--no-live", "--no-alert-wait", "--baseline", "2",
         "--reports-dir", str(tmp_path / "reports"), str(experiment)],
        cwd=ROOT, env=_env(pager), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: any(e["event_action"] == "trigger" for e in pager.events("pagerduty"))
                 and pager.events("slack"), 90, what="the run's page (PagerDuty trigger and Slack message)")
    except BaseException:
        run.kill()
        raise
    return run


def _assert_every_page_resolved(pager: Pager) -> None:
    """Every PagerDuty trigger has a later resolve with its dedup key; Slack's last word is a resolve."""
    events = pager.events("pagerduty")
    triggers = [i for i, e in enumerate(events) if e["event_action"] == "trigger"]
    assert triggers
    for i in triggers:
        key = events[i]["dedup_key"]
        assert any(e["event_action"] == "resolve" and e["dedup_key"] == key for e in events[i + 1:]), events
    slack = [m["text"] for m in pager.events("slack")]
    assert slack[-1].startswith("Resolved"), slack
    assert sum(t.startswith("Resolved") for t in slack) >= sum(not t.startswith("Resolved") for t in slack)


def _report(tmp_path: Path) -> dict[str, Any]:
    (report,) = (tmp_path / "reports").glob("*/report.json")
    return json.loads(report.read_text())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_resolves_its_page_before_it_exits(healthy, pager, tmp_path, no_resolution, sig):
    ledger = Ledger(healthy.state.ledger)
    run = _paged_run(pager, tmp_path, no_resolution)
    try:
        held = ledger.path.read_text()
        assert ROUTING_KEY not in held and "halt-secret-token" not in held  # a reference, never the secret
        os.killpg(run.pid, sig)  # Ctrl-C reaches the whole foreground job
        output, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], output[-2000:]
    _assert_every_page_resolved(pager)  # at once: sent before the run exited
    assert ledger.empty()
    report = json.dumps(_report(tmp_path))
    assert ROUTING_KEY not in report and "halt-secret-token" not in report


def test_sigkill_then_abort_resolves_the_page(healthy, pager, tmp_path, no_resolution):
    ledger = Ledger(healthy.state.ledger)
    run = _paged_run(pager, tmp_path, no_resolution)
    run.kill()
    run.wait(10)
    assert any(e.kind == "page" for e in ledger.entries())
    aborted = _gameday(_env(pager), "abort")
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert "undone: page" in aborted.stdout and ROUTING_KEY not in aborted.stdout
    _assert_every_page_resolved(pager)
    assert ledger.empty()


def test_halt_of_a_live_run_undoes_at_once_resolves_the_page_and_keeps_the_partial_report(
        healthy, pager, tmp_path, no_resolution):
    ledger = Ledger(healthy.state.ledger)
    run = _paged_run(pager, tmp_path, no_resolution)
    env = _env(pager)
    try:
        halted = _gameday(env, "halt", "--reason", "payments incident")
        exit_code = run.wait(10)
    finally:
        if run.poll() is None:
            run.kill()
        _gameday(env, "resume")
    assert halted.returncode == 0, halted.stdout + halted.stderr
    undone_s = float(re.search(r"faults undone in (\d+\.\d+)s", halted.stdout)[1])  # type: ignore[index]
    assert undone_s < 2.0, halted.stdout
    assert "undone: stop-dependency" in halted.stdout and "undone: page" in halted.stdout, halted.stdout
    assert exit_code == 143, run.stdout.read()[-2000:] if run.stdout else exit_code  # it ended itself: not SIGKILL
    _assert_every_page_resolved(pager)
    assert ledger.empty()
    report = _report(tmp_path)
    assert report["status"] == "interrupted" and report["signal"] == "SIGTERM"
    assert "halted by " in report["message"] and "payments incident" in report["message"], report["message"]
    wait_for(lambda: healthy.wait_healthy(1), 30, what="the service healthy again")
