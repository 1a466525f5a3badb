"""Pages as ledger entries, without a stack: recorded before the trigger and holding no secret, resolved again when
a halt resolved them while the trigger was on its way, resolved by ``gameday abort`` with the secrets of its shell
(and kept, one line, without them), and a halt that freezes a live run, undoes first, then lets it end itself."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gameday.guard import halt, lock
from gameday.guard.records import LocalRecords
from gameday.ledger import Ledger, LedgerEntry
from gameday.notify import pages
from gameday.notify.sender import Notifier
from tests.helpers import wait_for
from tests.pager import Pager, serving_pager

ROOT = Path(__file__).resolve().parents[1]
ROUTING_KEY = "R0UT1NG-KEY-pages-secret"
SLACK_PATH = "/services/T000/B000/pages-secret-token"
TARGET = {"kind": "local", "state_dir": "/nowhere"}


@pytest.fixture
def pager() -> Iterator[Pager]:
    with serving_pager(ROUTING_KEY, SLACK_PATH) as server:
        yield server


def _env(pager: Pager, **more: str) -> dict[str, str]:
    return {**pager.env(), **more}


@pytest.fixture
def secrets(pager: Pager, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = _env(pager)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _open_page(ledger: Ledger, owner: int | None = None) -> LedgerEntry:
    page = pages.Page("gd-1-postgres-down", "ecommerce-backend", "postgres-down", "local")
    pages.trigger(Notifier(), ledger, TARGET, page, "P0 - Service Outage: down", time.time(), {"fault": "x"})
    (entry,) = [e for e in ledger.entries() if e.id == page.entry_id]
    if owner is not None:
        ledger.update(entry.id, owner_pid=owner)
    return entry


def test_a_page_is_in_the_ledger_before_its_trigger_and_holds_no_secret(tmp_path, pager, secrets):
    ledger = Ledger(tmp_path / "ledger.json")
    seen: list[str] = []
    pager.on_trigger = lambda body: seen.append(ledger.path.read_text())
    entry = _open_page(ledger)
    (held,) = seen  # the ledger as it was when the trigger arrived
    assert entry.id in held and entry.kind == "page" and entry.params["channels"] == ["pagerduty", "slack"]
    assert ROUTING_KEY not in held and "pages-secret-token" not in held and str(pager.server_port) not in held
    assert pager.actions() == ["trigger", "slack"]


def test_a_page_resolved_while_its_trigger_was_on_its_way_is_resolved_again(tmp_path, pager, secrets):
    ledger = Ledger(tmp_path / "ledger.json")

    def halt_meanwhile(body: dict[str, Any]) -> None:  # another shell resolves the page from the ledger
        (entry,) = ledger.entries()
        threading.Thread(target=pages.undo, args=(ledger, entry, "halted")).start()
        wait_for(ledger.empty, 10, what="the page resolved by the halt")

    pager.on_trigger = halt_meanwhile
    page = pages.Page("gd-1-postgres-down", "ecommerce-backend", "postgres-down", "local")
    pages.trigger(Notifier(), ledger, TARGET, page, "P0 - Service Outage: down", time.time(), {"fault": "x"})
    actions = pager.actions()
    assert actions[-2:] == ["resolve", "slack"] and actions.count("resolve") == 2, actions  # the last word
    assert pager.received[-1][2]["text"].startswith("Resolved: ecommerce-backend (postgres-down): game day halted")
    assert ledger.empty()


def test_abort_resolves_a_page_with_its_shells_secrets_and_keeps_it_without_them(tmp_path, pager, secrets):
    state = tmp_path / "state"
    ledger = Ledger(state / "ledger.json")
    entry = _open_page(ledger, owner=1)
    base = {k: v for k, v in os.environ.items() if not k.startswith("GAMEDAY_")} | {"GAMEDAY_STATE_DIR": str(state)}

    def abort(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gameday.cli", "abort"], cwd=ROOT, env=env, text=True,
                              capture_output=True, timeout=60)

    kept = abort(base)
    assert kept.returncode == 1 and [e.id for e in ledger.entries()] == [entry.id]
    (line,) = [x for x in kept.stderr.splitlines() if x.startswith("NOT undone")]
    assert "GAMEDAY_PAGERDUTY_ROUTING_KEY and GAMEDAY_SLACK_WEBHOOK_URL not set here" in line
    resolved = abort(base | secrets)
    assert resolved.returncode == 0, resolved.stderr
    assert "undone: page(" in resolved.stdout and "dedup_key=gd-1-postgres-down" in resolved.stdout
    assert ROUTING_KEY not in resolved.stdout + resolved.stderr and ledger.empty()
    assert pager.actions() == ["trigger", "slack", "resolve", "slack"]
    assert pager.received[2][2]["dedup_key"] == "gd-1-postgres-down"


STAND_IN = """
import json, select, signal, sys, threading, time
from pathlib import Path

out, ledger = Path(sys.argv[1]), Path(sys.argv[2])

def on_sigterm(signum, frame):  # what a run does: look at the ledger, write its partial report, end
    out.write_text(json.dumps({"ledger": json.loads(ledger.read_text())}))
    sys.exit(143)

signal.signal(signal.SIGTERM, on_sigterm)
for _ in range(8):  # a run has threads (prober, watcher, hooks): a signal must still reach the main one
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
out.with_suffix(".ready").write_text("ready")
select.select([sys.stdin], [], [], 600)  # the main thread in an experiment's pause, until its test is gone (EOF)
"""


def test_halt_freezes_a_live_run_undoes_first_then_lets_it_end_itself(tmp_path, pager, secrets):
    state = tmp_path / "state"
    ledger, records, report = Ledger(state / "ledger.json"), LocalRecords(state), tmp_path / "partial.json"
    run = subprocess.Popen([sys.executable, "-c", STAND_IN, str(report), str(ledger.path), "gameday"],
                           stdin=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(report.with_suffix(".ready").exists, 30, what="the stand-in run ready")
        entry = _open_page(ledger, owner=run.pid)
        records.create(lock.LOCK, {"pid": run.pid, "host": socket.gethostname(), "since": time.time()})
        result = halt.halt(records, ledger, "payments incident", grace_s=5)
        code = run.wait(5)
    finally:
        if run.poll() is None:
            run.kill()
        halt.resume(records)
    assert result.stopped_pids == [run.pid] and result.killed_pids == [], "the run was killed: no partial report"
    assert code == 143 and json.loads(report.read_text()) == {"ledger": []}  # undone before it was told to end
    assert result.faults_undone_s < 1 and result.undone.undone == [entry.describe()]
    assert pager.actions()[-2:] == ["resolve", "slack"] and ledger.empty()
    assert records.read(lock.LOCK) is None


def test_a_run_frozen_by_someone_else_is_killed_at_once(tmp_path):
    state = tmp_path / "state"
    frozen = subprocess.Popen([sys.executable, "-c", "import select, sys; select.select([sys.stdin], [], [], 600)",
                               "gameday"], stdin=subprocess.PIPE)  # it waits until killed, or this test is gone
    try:
        wait_for(lambda: lock.is_gameday_process(frozen.pid), 10, what="the stand-in started")
        os.kill(frozen.pid, signal.SIGSTOP)
        records = LocalRecords(state)
        records.create(lock.LOCK, {"pid": frozen.pid, "host": socket.gethostname(), "since": time.time()})
        result = halt.halt(records, Ledger(state / "ledger.json"), grace_s=5)
        assert frozen.wait(2) == -signal.SIGKILL and result.killed_pids == [frozen.pid] and result.duration_s < 2
    finally:
        if frozen.poll() is None:
            frozen.kill()
