"""Guardrails end to end on the local stack, with real processes: stop conditions end runs, ``gameday halt`` stops a
frozen run from another shell, one game day at a time, a dry run touches nothing, SIGTERM exits 143 and undoes only
the run's own faults, and a SIGKILLed run's load generator is ended by ``gameday abort``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gameday.alerts import client as prometheus
from gameday.guard.lock import GameDayLock
from gameday.guard.records import LocalRecords
from gameday.guard.stops import with_specs
from gameday.ledger import Ledger
from gameday.run.session import GameDay, GameDayOptions
from tests.helpers import status_of, wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments" / "service-outage"


@pytest.fixture
def no_resolution(tmp_path: Path) -> Path:
    """postgres-down without its resolution: the outage lasts until something stops it."""
    experiment = json.loads((EXPERIMENTS / "postgres-down.json").read_text())
    resolution = {"start_dependency", "wait_until_healthy"}
    experiment["method"] = [a for a in experiment["method"] if a["provider"].get("func") not in resolution]
    experiment["method"][0]["pauses"] = {"after": 60}  # the outage lasts (bounded) until something ends it
    path = tmp_path / "postgres-down-no-resolution.json"
    path.write_text(json.dumps(experiment))
    return path


def _gameday(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _start_run(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gameday.cli", "run", "--no-live", "--no-alert-wait", "--baseline", "2",
         "--reports-dir", str(tmp_path / "reports"), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _fault_injected(ledger: Ledger, pid: int) -> bool:
    return any(e.kind == "fault" and e.state == "injected" and e.owner_pid == pid for e in ledger.entries())


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _healthy(target) -> None:
    wait_for(lambda: status_of(target.base_url() + "/api/orders/1") in (200, 404) and target.wait_healthy(1), 30,
             what="the service healthy again")


def _options(tmp_path: Path, *experiments: str, stop_on: list[str], settings) -> GameDayOptions:
    return GameDayOptions(experiments=list(experiments), baseline_s=2, verify_window_s=4, reports_dir=tmp_path,
                          live=False, wait_for_alert=False,
                          stop_conditions=with_specs(settings.stop_conditions, stop_on))


def test_the_outage_limit_ends_a_run_that_cannot_recover(healthy, settings, tmp_path, no_resolution):
    result = GameDay(settings, _options(tmp_path, str(no_resolution), stop_on=["outage:3s"], settings=settings),
                     healthy).run()
    report = result.report.to_dict()  # as report.json holds it
    assert result.exit_code == 6 and report["status"] == "stopped", report["message"]
    (exp,) = report["experiments"]
    assert exp["status"] == "aborted" and exp["message"].startswith("aborted: outage > 3s (value ")
    (stop,) = report["stopped"]
    assert stop["held_at"] <= stop["fired_at"] <= stop["undone_at"] and "undone: stop-dependency" in stop["undone"][0]
    assert "aborted: outage > 3s" in (result.out_dir / "summary.md").read_text()
    assert "Stopped by a stop condition" in (result.out_dir / "index.html").read_text()
    assert Ledger(healthy.state.ledger).empty() and report["ledger_clean"]
    _healthy(healthy)


def test_a_promql_condition_ends_a_run_and_the_rest_is_skipped(healthy, settings, tmp_path, no_resolution):
    promql = 'promql:sum(haproxy_backend_active_servers{proxy="ecommerce-backend"}) < 3 for 1s'
    options = _options(tmp_path, str(no_resolution), "redis-down", stop_on=[promql, "outage:90s"], settings=settings)
    result = GameDay(settings, options, healthy).run()
    report = result.report.to_dict()  # as report.json holds it
    assert result.exit_code == 6, report["message"]
    (exp,) = report["experiments"]
    assert exp["stop"]["condition"].startswith("promql sum(haproxy_backend_active_servers")
    assert [s["name"] for s in report["skipped"]] == ["redis-down"]
    assert "skipped: redis-down" in report["message"]
    assert Ledger(healthy.state.ledger).empty()
    _healthy(healthy)


def test_halt_stops_a_frozen_run_from_another_shell_and_refuses_until_resume(healthy, tmp_path, no_resolution):
    ledger = Ledger(healthy.state.ledger)
    run = _start_run(tmp_path, str(no_resolution))
    try:
        wait_for(lambda: _fault_injected(ledger, run.pid), 90, what="the run's fault injected")
        second = _gameday("run", "--no-live", "postgres-down")  # one game day per target at a time
        assert second.returncode == 7, second.stderr
        assert "another game day holds this target" in second.stderr and f"pid {run.pid} on " in second.stderr
        locusts = [p for e in ledger.entries() if e.kind == "load" for p in e.params["pids"]]
        assert locusts and all(_alive(p) for p in locusts)
        os.kill(run.pid, signal.SIGSTOP)  # frozen: it cannot undo anything itself
        halted = _gameday("halt", "--reason", "payments incident")
        assert halted.returncode == 0, halted.stderr
        assert re.search(r"faults undone in \d+\.\d+s", halted.stdout), halted.stdout  # the figure: make bench
        assert f"stopped: gameday process {run.pid}" in halted.stdout and "undone: stop-dependency" in halted.stdout
        run.wait(5)
        assert ledger.empty() and not any(_alive(p) for p in locusts)
        _healthy(healthy)
        refused = _gameday("run", "--no-live", "postgres-down")
        assert refused.returncode == 5 and "payments incident" in refused.stderr, refused.stderr
    finally:
        if run.poll() is None:
            run.kill()
        _gameday("resume")
    assert _gameday("run", "--dry-run", "postgres-down").returncode == 0


def test_sigterm_exits_143_and_undoes_only_the_runs_own_faults(healthy, tmp_path, no_resolution):
    ledger = Ledger(healthy.state.ledger)
    run = _start_run(tmp_path, str(no_resolution))
    try:
        wait_for(lambda: _fault_injected(ledger, run.pid), 90, what="the run's fault injected")
        other = _gameday("inject", "freeze-replicas", "-p", "replicas=replica-2")  # another person's fault
        assert other.returncode == 0, other.stderr
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=90)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 143, output[-2000:]
    (left,) = ledger.entries()
    assert left.fault == "freeze-replicas" and left.owner_pid != run.pid
    # the run's own fault (postgres) undone; the frozen replica-2 answers 504 until HAProxy's check takes it out
    wait_for(lambda: status_of(healthy.base_url() + "/api/orders/1") in (200, 404), 15,
             what="orders answering again (postgres back)")
    assert _gameday("abort").returncode == 0 and ledger.empty()
    _healthy(healthy)


def test_abort_ends_the_load_of_a_sigkilled_run_and_its_lock_is_taken_over(healthy, tmp_path, no_resolution):
    ledger = Ledger(healthy.state.ledger)
    run = _start_run(tmp_path, str(no_resolution))
    try:
        wait_for(lambda: _fault_injected(ledger, run.pid), 90, what="the run's fault injected")
        run.kill()
        run.wait(10)
    finally:
        if run.poll() is None:
            run.kill()
    locusts = [p for e in ledger.entries() if e.kind == "load" for p in e.params["pids"]]
    assert locusts and all(_alive(p) for p in locusts)
    aborted = _gameday("abort")
    assert aborted.returncode == 0 and "undone: load-generator" in aborted.stdout, aborted.stdout
    assert not any(_alive(p) for p in locusts) and ledger.empty()
    taken = GameDayLock(LocalRecords(healthy.state.root)).acquire()
    assert taken.note.startswith(f"took over the lock of a game day that died: pid {run.pid} ")
    taken.release()
    _healthy(healthy)


def test_a_dry_run_touches_nothing(healthy):
    before = (healthy.history(), [e.message for e in healthy.events(500)], healthy.config(), Ledger(
        healthy.state.ledger).entries(), [(r.name, r.restarts, r.revision) for r in healthy.replicas()])
    dry = _gameday("run", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plans = {p["experiment"]: p for p in json.loads(dry.stdout)["experiments"]}
    assert plans["all-pods-down"]["touches"] == [f"replica {n} (the local rollout)" for n in healthy.replica_names]
    assert plans["postgres-down"]["expected_diagnosis"] == "dependency-failure:postgres"
    assert "run: outage > 120s" in plans["bad-config"]["stop_conditions"]
    assert plans["bad-config"]["touches"][0].startswith("the local configuration: DB_HOST=")
    chaos = _gameday("chaos", "run", "--dry-run", "failed-deployment")
    assert chaos.returncode == 0 and "-> 1.5.0-broken" in chaos.stdout, chaos.stdout + chaos.stderr
    after = (healthy.history(), [e.message for e in healthy.events(500)], healthy.config(), Ledger(
        healthy.state.ledger).entries(), [(r.name, r.restarts, r.revision) for r in healthy.replicas()])
    assert after == before
    assert LocalRecords(healthy.state.root).read("lock") is None


@pytest.fixture
def prometheus_stopper(healthy) -> Iterator:
    """``stop()`` stops the monitoring's Prometheus (supervisor); it is started again, answering, after the test."""
    try:
        yield lambda: healthy.supervisor.stop("prometheus")
    finally:
        healthy.supervisor.start("prometheus", wait=True)
        wait_for(lambda: _answers(healthy.prometheus_url()), 60, what="Prometheus answering again")


def _answers(url: str) -> bool:
    try:
        return prometheus.query(url, "vector(1)", timeout=2.0) is not None
    except prometheus.PrometheusError:
        return False


def test_a_promql_condition_whose_prometheus_is_stopped_ends_the_run(healthy, tmp_path, no_resolution,
                                                                        prometheus_stopper):
    ledger = Ledger(healthy.state.ledger)
    run = _start_run(tmp_path, str(no_resolution), "--stop-on", "promql:vector(1) > 2 for 2s")  # never true
    try:
        wait_for(lambda: _fault_injected(ledger, run.pid), 90, what="the run's fault injected")
        prometheus_stopper()
        output, _ = run.communicate(timeout=90)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 6, output[-3000:]
    cause = f"Prometheus at {healthy.prometheus_url()} unreachable (ConnectError)"
    assert re.search(r"aborted: promql vector\(1\) > 2 for 2s could not be evaluated for \d+\.\ds: "
                     + re.escape(cause), output), output[-3000:]
    (report_file,) = (tmp_path / "reports").glob("*/report.json")
    report = json.loads(report_file.read_text())
    assert report["status"] == "stopped" and report["experiments"][0]["status"] == "aborted"
    assert report["stopped"][0]["cause"].endswith(cause) and report["guard_blind"][0]["on_error"] == "stop"
    assert ledger.empty()
    _healthy(healthy)


def test_with_on_error_continue_a_blind_promql_condition_lets_the_run_pass_and_says_so(healthy, settings, tmp_path,
                                                                                        prometheus_stopper):
    ledger = Ledger(healthy.state.ledger)
    spec = "promql:vector(1) > 2 for 1s on-error continue"
    day = GameDay(settings, _options(tmp_path, "redis-down", stop_on=[spec], settings=settings), healthy)
    injected = threading.Event()

    def stop_prometheus_once_injected() -> None:
        wait_for(lambda: any(e.kind == "fault" for e in ledger.entries()), 90, what="the fault injected")
        prometheus_stopper()
        injected.set()

    stopper = threading.Thread(target=stop_prometheus_once_injected, daemon=True)
    stopper.start()
    result = day.run()
    stopper.join(30)
    report = result.report.to_dict()  # as report.json holds it
    assert injected.is_set() and result.exit_code == 0 and report["status"] == "passed", report["message"]
    (blind,) = report["guard_blind"]
    assert blind["on_error"] == "continue" and blind["seconds"] > 1
    assert blind["cause"] == f"Prometheus at {healthy.prometheus_url()} unreachable (ConnectError)"
    assert f"guard blind: promql vector(1) > 2 for 1s on-error continue for {blind['seconds']:.1f}s" \
        in report["message"]
    assert "**Guard blind:**" in (result.out_dir / "summary.md").read_text()
    (exp,) = report["experiments"]
    assert exp["alert"]["as_expected"] is None and exp["alert"]["not_judged"].startswith("Prometheus did not answer")
    assert ledger.empty()
