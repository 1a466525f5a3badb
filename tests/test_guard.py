"""Guardrails without a stack: stop-condition parsing and evaluation, the lock, the halt record, the ledger's
defects (a jammed entry, a run undoing another's faults, colliding report directories), one-line refusals of
bad configuration, the allowlist before any network call, failed notifications in plain sight."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from gameday import config as gameday_config
from gameday.abort import undo_own
from gameday.calls import Call
from gameday.config import StopConditions
from gameday.errors import UsageError
from gameday.guard import halt, lock, stops
from gameday.guard.records import LocalRecords
from gameday.ledger import Ledger, LedgerEntry
from gameday.notify.sender import Notifier
from gameday.report.writer import write_report
from gameday.run.session import GameDayResult, new_report_dir
from gameday.symptoms import Observation
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def gameday(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``gameday ARGS`` in this process (its ``main``: exit code, one-line errors), with fresh settings from ``env``:
    the same code path as the command, without an interpreter start per call."""
    from gameday import cli

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        saved = list(gameday_config._current)
        with monkeypatch.context() as m:
            for key, value in (env or {}).items():
                m.setenv(key, value)
            m.setattr(sys, "argv", ["gameday", *args])
            gameday_config._current.clear()
            capsys.readouterr()
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                gameday_config._current[:] = saved
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return run


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


# --- stop conditions: parsing ------------------------------------------------------------------------


def test_stop_on_specs_parse_into_the_configuration_model():
    c = stops.with_specs(StopConditions(), [
        "outage:30s", "postgres-down/outage:2m", 'promql:up{job="x"} == 0 for 10s at http://127.0.0.1:9090',
        "http:http://127.0.0.1:8081/healthz for 500ms", "blast:/api/products>5%",
        "redis-down/blast:catalogue>0.2 for 3s",
    ])
    assert c.outage_s == 30 and c.experiments["postgres-down"].outage_s == 120
    (p,) = c.promql
    assert (p.expr, p.for_s, p.url) == ('up{job="x"} == 0', 10, "http://127.0.0.1:9090")
    assert c.http[0].url == "http://127.0.0.1:8081/healthz" and c.http[0].for_s == 0.5
    assert c.blast_radius[0].max_error_rate == pytest.approx(0.05) and c.blast_radius[0].window_s == 5
    blast = c.experiments["redis-down"].blast_radius[0]
    assert (blast.path, blast.max_error_rate, blast.window_s) == ("catalogue", 0.2, 3)


@pytest.mark.parametrize("spec", ["outage", "outage:soon", "latency:5s", "blast:/api/products", "blast:/x>150%",
                                  "promql:", "outage:5s at http://127.0.0.1:1"])
def test_a_stop_condition_that_does_not_parse_is_one_line(spec):
    with pytest.raises(UsageError) as info:
        stops.with_specs(StopConditions(), [spec])
    assert spec.split(":")[0] in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("spec", "words"), [
    ("no-such-experiment/outage:5s", "unknown experiment 'no-such-experiment'"),
    ("http:ftp://127.0.0.1/x", "bad URL"),
    ("http:http://127.0.0.1:1/healthz", "already failing"),
    ("promql:up at http://127.0.0.1:1", "Prometheus unreachable"),
    ("promql:up", "no Prometheus"),
    ("blast:/nowhere>5%", "not probed"),
])
def test_a_stop_condition_that_cannot_work_is_refused_before_the_run(spec, words):
    conditions = stops.with_specs(StopConditions(), [spec])
    with pytest.raises(UsageError, match=words):
        stops.validate(conditions, ["postgres-down"], None, ["/healthz", "catalogue", "/api/products"])


# --- stop conditions: evaluation ---------------------------------------------------------------------


def _obs(at: float, path: str, ok: bool) -> Observation:
    return Observation(at, Call(path, "GET", "/api/" + path, 200 if ok else 503, 200, 1.0))


def test_the_outage_condition_fires_when_the_outage_outlasts_its_limit_and_says_when_it_held():
    now = time.time()
    outage = {"start": now - 1.0}
    signals = stops.Signals(lambda: ("postgres-down", outage["start"], None), lambda since: [], None)
    watcher = stops.Watcher(StopConditions(outage_s=3), signals, lambda f: None)
    assert watcher.evaluate(now) is None  # 1 s of outage, limit 3 s
    outage["start"] = now - 3.5
    fired = watcher.evaluate(now)
    assert fired and fired.condition == "outage > 3s" and fired.value == "3.5s"
    assert fired.held_at == pytest.approx(now - 0.5) and fired.experiment == "postgres-down"
    assert fired.line().startswith("aborted: outage > 3s (value 3.5s at ")


def test_an_experiments_own_outage_limit_replaces_the_runs():
    now = time.time()
    conditions = stops.with_specs(StopConditions(), ["outage:100s", "postgres-down/outage:1s"])
    pg = stops.Signals(lambda: ("postgres-down", now - 2, None), lambda since: [], None)
    other = stops.Signals(lambda: ("redis-down", now - 2, None), lambda since: [], None)
    assert stops.Watcher(conditions, pg, lambda f: None).evaluate(now).condition == "outage > 1s"
    assert stops.Watcher(conditions, other, lambda f: None).evaluate(now) is None


def test_blast_radius_judges_only_the_protected_path_and_needs_enough_probes():
    now = time.time()
    probes = [_obs(now - 1 + i * 0.1, "order", False) for i in range(8)]  # the experiment's own path fails
    probes += [_obs(now - 1 + i * 0.3, "catalogue", True) for i in range(3)]
    signals = stops.Signals(lambda: ("x", None, None), lambda since: [o for o in probes if o.at >= since], None)
    conditions = stops.with_specs(StopConditions(), ["blast:catalogue>10%"])
    assert stops.Watcher(conditions, signals, lambda f: None).evaluate(now) is None
    probes += [_obs(now - 0.5, "catalogue", False), _obs(now - 0.4, "catalogue", False)]
    fired = stops.Watcher(conditions, signals, lambda f: None).evaluate(now)
    assert fired and fired.value == "40% of 5 probes failed"


def test_an_http_condition_fires_only_after_failing_for_its_time():
    server = _server(503)
    url = f"http://127.0.0.1:{server.server_port}/healthz"
    conditions = stops.with_specs(StopConditions(outage_s=None), [f"http:{url} for 1s"])
    watcher = stops.Watcher(conditions, stops.Signals(lambda: (None, None, None), lambda s: [], None), lambda f: None)
    t0 = time.time()
    assert watcher.evaluate(t0) is None
    fired = watcher.evaluate(t0 + 1.1)
    assert fired and fired.value == "HTTP 503" and fired.held_at == pytest.approx(t0 + 1)
    server.shutdown()


def test_the_watcher_thread_calls_back_once_within_a_tick():
    got: list[stops.Fired] = []
    signals = stops.Signals(lambda: ("x", time.time() - 10, None), lambda since: [], None)
    watcher = stops.Watcher(StopConditions(outage_s=1), signals, got.append).start()
    wait_for(lambda: got, 2, what="the stop condition to fire")
    watcher.stop()
    assert len(got) == 1 and watcher.fired is got[0]


def test_with_continue_after_stop_the_next_experiment_is_watched_afresh():
    got: list[stops.Fired] = []
    running = {"name": "first"}
    signals = stops.Signals(lambda: (running["name"], time.time() - 10, None), lambda since: [], None)
    conditions = StopConditions(outage_s=1, continue_after_stop=True)
    watcher = stops.Watcher(conditions, signals, got.append).start()
    wait_for(lambda: got, 2, what="the first stop")
    running["name"] = "second"
    wait_for(lambda: len(got) == 2, 2, what="the second experiment's stop")
    watcher.stop()
    assert [f.experiment for f in got] == ["first", "second"]


# --- stop conditions: fail closed ---------------------------------------------------------------------


def _dead_url() -> str:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    return f"http://127.0.0.1:{port}"


def _idle() -> stops.Signals:
    return stops.Signals(lambda: ("postgres-down", None, None), lambda since: [], None)


def test_on_error_parses_from_the_spec_and_the_yaml_and_a_bad_mode_is_one_line():
    c = stops.with_specs(StopConditions(), ["promql:up == 0 for 2s on-error continue",
                                             "http:http://127.0.0.1:1/h on-error stop for 1s", "blast:x>5%"])
    assert (c.promql[0].expr, c.promql[0].for_s, c.promql[0].on_error) == ("up == 0", 2, "continue")
    assert (c.http[0].url, c.http[0].for_s, c.http[0].on_error) == ("http://127.0.0.1:1/h", 1, "stop")
    assert c.blast_radius[0].on_error == "stop"  # the default: fail closed
    assert StopConditions.model_validate({"promql": [{"expr": "up", "on_error": "continue"}]}).promql[0].on_error \
        == "continue"
    for bad in ("promql:up on-error ignore", "outage:5s on-error continue"):
        with pytest.raises(UsageError, match=r"on-error|outage takes one duration"):
            stops.with_specs(StopConditions(), [bad])


def test_a_promql_condition_whose_prometheus_is_unreachable_holds_after_its_for_and_names_the_cause():
    url = _dead_url()
    said: list[str] = []
    conditions = stops.with_specs(StopConditions(outage_s=None), [f"promql:vector(1) > 2 for 2s at {url}"])
    watcher = stops.Watcher(conditions, _idle(), lambda f: None, say=said.append)
    t0 = time.time()
    assert watcher.evaluate(t0) is None and watcher.evaluate(t0 + 1.9) is None  # blind, not yet for 2 s
    fired = watcher.evaluate(t0 + 2.1)
    assert fired is not None and fired.held_at == pytest.approx(t0 + 2)
    assert fired.line().startswith(f"aborted: promql vector(1) > 2 for 2s at {url} could not be evaluated for 2.1s: "
                                   f"Prometheus at {url} unreachable (ConnectError)")
    assert said == [f"gameday: warning: stop condition promql vector(1) > 2 for 2s at {url} cannot be evaluated: "
                    f"Prometheus at {url} unreachable (ConnectError); it holds and stops the run after 2s"]
    assert fired.to_dict()["cause"].startswith("could not be evaluated")


def test_with_on_error_continue_a_blind_condition_never_fires_and_its_blindness_is_kept():
    url = _dead_url()
    said: list[str] = []
    conditions = stops.with_specs(StopConditions(outage_s=None),
                                  [f"promql:vector(1) > 2 at {url} on-error continue"])
    watcher = stops.Watcher(conditions, _idle(), lambda f: None, say=said.append)
    t0 = time.time()
    assert all(watcher.evaluate(t0 + dt) is None for dt in (0, 5, 30))
    (blind,) = watcher.blind(t0 + 30)
    assert blind["seconds"] == 30 and blind["on_error"] == "continue" and blind["until"] is None
    assert blind["cause"] == f"Prometheus at {url} unreachable (ConnectError)"
    assert "on-error continue: the run goes on without this guard" in said[0]


def test_a_check_that_raises_holds_and_a_condition_that_answers_again_is_not_blind_any_more(monkeypatch):
    answers: list[object] = [RuntimeError("boom"), [], [{"value": [0, "3"]}], [{"value": [0, "3"]}]]

    def query(url: str, expr: str, timeout: float) -> list:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    monkeypatch.setattr(stops.prometheus, "query", query)
    said: list[str] = []
    conditions = stops.with_specs(StopConditions(outage_s=None), ["promql:x > 2 for 1s at http://127.0.0.1:1"])
    watcher = stops.Watcher(conditions, _idle(), lambda f: None, say=said.append)
    t0 = time.time()
    assert watcher.evaluate(t0) is None  # the check raised: blind, holding from t0
    assert watcher.evaluate(t0 + 0.5) is None  # answers again: not holding, the blind episode ends
    assert "the check failed: RuntimeError: boom" in said[0] and "evaluated again after 0.5s blind" in said[1]
    assert watcher.blind()[0]["seconds"] == 0.5
    assert watcher.evaluate(t0 + 1) is None  # holds now (a sample), for 1 s from here
    fired = watcher.evaluate(t0 + 2.1)
    assert fired and fired.cause is None and fired.value == "3"


def test_an_http_condition_that_gets_no_answer_holds_or_with_continue_is_blind():
    url = _dead_url() + "/healthz"
    for spec, fires in ((f"http:{url}", True), (f"http:{url} on-error continue", False)):
        watcher = stops.Watcher(stops.with_specs(StopConditions(outage_s=None), [spec]), _idle(), lambda f: None,
                                say=lambda line: None)
        fired = watcher.evaluate(time.time())
        assert (fired is not None) is fires
        if fired:
            assert "could not be evaluated for 0.0s: " in fired.line() and "unreachable (ConnectError)" in fired.line()


def test_an_unknown_diagnosis_mode_is_one_line_exit_2(gameday):
    refused = gameday("run", "--diagnosis", "lenient", "--no-live")
    assert refused.returncode == 2 and "--diagnosis 'lenient': expected strict or advisory" in refused.stderr
    assert "Traceback" not in refused.stderr


# --- the lock ----------------------------------------------------------------------------------------


def _fake_gameday_process() -> subprocess.Popen[bytes]:
    """A live process whose command line says gameday (the lock holder stand-in)."""
    return subprocess.Popen(["/usr/local/bin/gameday", "600"], executable="/bin/sleep")


def test_a_second_game_day_is_refused_naming_the_holder(state):
    holder = _fake_gameday_process()
    try:
        records = LocalRecords(state)
        records.create(lock.LOCK, {"pid": holder.pid, "host": socket.gethostname(), "since": time.time(),
                                   "command": "gameday run postgres-down"})
        with pytest.raises(lock.Locked) as info:
            lock.GameDayLock(records).acquire()
        assert f"pid {holder.pid} on {socket.gethostname()}" in str(info.value)
        assert "gameday run postgres-down" in str(info.value) and info.value.exit_code == 7
    finally:
        holder.kill()
        holder.wait()


def test_wait_takes_the_lock_once_the_holder_lets_go(state):
    records = LocalRecords(state)
    held = {"pid": 1, "host": "another-host", "since": time.time(), "command": "first"}  # alive: cannot be checked
    records.create(lock.LOCK, held)
    threading.Timer(0.7, records.swap, (lock.LOCK, held, None)).start()  # the other run ends
    t0 = time.monotonic()
    second = lock.GameDayLock(records, command="second", wait_s=10).acquire()
    assert 0.5 < time.monotonic() - t0 < 5 and records.read(lock.LOCK)["command"] == "second"
    second.release()
    assert records.read(lock.LOCK) is None


def test_a_dead_holders_lock_is_taken_over_with_a_note(state):
    dead = subprocess.Popen(["/usr/local/bin/gameday"], executable="/bin/true")
    dead.wait()
    records = LocalRecords(state)
    records.create(lock.LOCK, {"pid": dead.pid, "host": socket.gethostname(), "since": time.time() - 60})
    taken = lock.GameDayLock(records).acquire()
    assert taken.note.startswith("took over the lock of a game day that died: pid ")
    assert records.read(lock.LOCK)["pid"] == os.getpid()
    taken.release()


# --- halt --------------------------------------------------------------------------------------------


def test_halt_ends_a_frozen_gameday_process_undoes_its_load_and_refuses_until_resume(state, gameday):
    frozen = _fake_gameday_process()
    locust = subprocess.Popen(["locust-stand-in", "600"], executable="/bin/sleep", start_new_session=True)
    os.kill(frozen.pid, 19)  # SIGSTOP: it cannot clean up after itself
    ledger = Ledger(state / "ledger.json")
    entry = LedgerEntry("load-generator", {"pids": [locust.pid]}, {"kind": "local", "state_dir": str(state)},
                        state="injected", kind="load", owner_pid=frozen.pid)
    ledger.add(entry)
    records = LocalRecords(state)
    records.create(lock.LOCK, {"pid": frozen.pid, "host": socket.gethostname(), "since": time.time()})
    result = halt.halt(records, ledger, reason="payments incident")
    assert result.stopped_pids == [frozen.pid] and result.duration_s < 2
    assert frozen.wait(2) is not None and locust.wait(2) is not None
    assert ledger.empty() and records.read(lock.LOCK) is None
    env = {"GAMEDAY_STATE_DIR": str(state)}
    for args in (["inject", "kill-replicas"], ["chaos", "run", "postgres-down"]):
        refused = gameday(*args, env=env)
        assert refused.returncode == 5, refused.stderr
        (line,) = refused.stderr.strip().splitlines()
        assert "target halted by " in line and "payments incident" in line and "gameday resume" in line
    assert "resumed" in gameday("resume", env=env).stdout
    assert records.read(halt.HALT) is None


# --- the ledger's defects ----------------------------------------------------------------------------


def test_a_run_undoes_only_its_own_faults(state):
    ledger = Ledger(state / "ledger.json")
    other = LedgerEntry("freeze-replicas", {}, {"kind": "local", "state_dir": str(state)}, owner_pid=1)
    mine = LedgerEntry("freeze-replicas", {}, {"kind": "local", "state_dir": str(state)})  # never applied
    ledger.add(other)
    ledger.add(mine)
    done = undo_own(ledger)
    assert done.cleared and [e.id for e in ledger.entries()] == [other.id]


def test_an_undo_without_settings_keeps_an_applied_fault_and_says_why(state):
    """Rebuilding a fault's target takes the caller's settings (no lower layer reads them): an undo given none
    leaves the fault in the ledger, one NOT-undone line naming why, rather than guessing a configuration."""
    ledger = Ledger(state / "ledger.json")
    applied = ledger.add(LedgerEntry("freeze-replicas", {}, {"kind": "local", "state_dir": str(state)},
                                     state="injected"))
    done = undo_own(ledger)
    assert not done.undone and [e.id for e in ledger.entries()] == [applied.id]
    assert done.failed == [f"{applied.describe()}: GamedayError: no settings were given to rebuild its target"]


def test_an_entry_that_changed_nothing_is_cleared_by_abort(state, gameday):
    ledger = Ledger(state / "ledger.json")
    ledger.add(LedgerEntry("kill-replicas", {"replicas": ["replica-9"]}, {"kind": "local", "state_dir": str(state)}))
    result = gameday("abort", env={"GAMEDAY_STATE_DIR": str(state)})
    assert result.returncode == 0, result.stderr
    assert "cleared (changed nothing): kill-replicas(replicas=['replica-9'])" in result.stdout
    assert ledger.empty()


def test_report_directories_never_collide(tmp_path):
    dirs = {new_report_dir(tmp_path, "20261129-170000") for _ in range(3)}
    assert len(dirs) == 3 and all(d.is_dir() for d in dirs)


def test_sigterm_and_stop_conditions_have_their_own_exit_codes(tmp_path):
    assert GameDayResult({"status": "interrupted", "signal": "SIGTERM"}, tmp_path).exit_code == 143
    assert GameDayResult({"status": "interrupted", "signal": "SIGINT"}, tmp_path).exit_code == 130
    assert GameDayResult({"status": "stopped"}, tmp_path).exit_code == stops.EXIT_STOPPED == 6


# --- refusals: one line, before anything happens -----------------------------------------------------


def test_the_allowlist_refuses_inject_before_any_network_call(tmp_path, gameday):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "production",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "production", "context": {"cluster": "c", "user": "u", "namespace": "production"}}],
    }))
    env = {"TARGET": "kubernetes", "CONTEXT": "production", "NAMESPACE": "production", "KUBECONFIG": str(kubeconfig),
           "GAMEDAY_STATE_DIR": str(tmp_path / "state")}
    for args in (["inject", "kill-replicas"], ["halt"], ["run", "postgres-down"], ["chaos", "run", "postgres-down"]):
        result = gameday(*args, env=env)
        assert result.returncode == 3, (args, result.stderr)
        assert "refusing to inject into context 'production': not in the allowlist" in result.stderr
    with pytest.raises(TimeoutError):
        listener.accept()  # nobody connected
    listener.close()


def test_a_base_url_the_local_target_cannot_honour_is_refused_not_replaced(gameday):
    result = gameday("--base-url", "http://127.0.0.1:1", "smoke", env={"TARGET": "local"})
    assert result.returncode == 2 and "PASSED" not in result.stdout
    assert "--base-url http://127.0.0.1:1 applies to the kubernetes target" in result.stderr


@pytest.mark.parametrize(("text", "words"), [
    ("slo:\n  max_eror_rate: 0.02\n", "unknown key 'slo.max_eror_rate'; did you mean 'slo.max_error_rate'?"),
    ("safety:\n  alow_production: true\n", "did you mean 'safety.allow_production'?"),
    ("stop_conditions:\n  blast_radius:\n    - {path: /x, max_eror_rate: 1}\n", "'stop_conditions.blast_radius[0]."),
    ("a: [\n", "not valid YAML at line 2"),
    ("- just\n- a list\n", "expected a mapping at the top level"),
])
def test_configuration_problems_are_one_line_naming_the_file(tmp_path, gameday, text, words):
    config = tmp_path / "gameday.yaml"
    config.write_text(text)
    result = gameday("ledger", env={"GAMEDAY_CONFIG": str(config)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"gameday: configuration file {config}: " + result.stderr.split(": ", 2)[2].strip()
    assert words in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("name", "words"), [
    ("GAMEDAY_SLO__MAX_EROR_RATE", "gameday: environment variable GAMEDAY_SLO__MAX_EROR_RATE: unknown key "
                                   "'slo.max_eror_rate'; did you mean 'slo.max_error_rate'?"),
    ("GAMEDAY_SAFTY__ALLOW_PRODUCTION", "unknown key 'safty'; did you mean 'safety'?"),
    ("gameday_local__images__postgress", "did you mean 'local.images.postgres'?"),
])
def test_a_misspelt_nested_environment_variable_is_one_line_not_ignored(gameday, name, words):
    """pydantic-settings ignores what matches no field: a typo would leave the gate at its default silently."""
    result = gameday("ledger", env={name: "0.5"})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr


def test_spelt_right_nested_and_other_tools_flat_variables_are_accepted(gameday, tmp_path):
    result = gameday("ledger", env={"GAMEDAY_SLO__MAX_ERROR_RATE": "0.02", "GAMEDAY_SLACK_WEBHOOK_URL": "http://x",
                                    "GAMEDAY_STOP_CONDITIONS__EXPERIMENTS__REDIS_DOWN__OUTAGE_S": "30",
                                    "GAMEDAY_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("kind", ["missing", "directory", "binary"])
def test_unreadable_config_and_kubeconfig_files_are_one_line_exit_2(tmp_path, gameday, kind):
    path = tmp_path / "file"
    if kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    result = gameday("ledger", env={"GAMEDAY_CONFIG": str(path)})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(path) in result.stderr and "unexpected error" not in result.stderr
    if kind == "binary":
        kube = gameday("status", env={"TARGET": "kubernetes", "KUBECONFIG": str(path)})
        assert kube.returncode == 2 and f"bad kubeconfig {path}: not text" in kube.stderr, kube.stderr


# --- failed notifications ----------------------------------------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    code = 400

    def do_GET(self) -> None:
        self.send_response(self.code)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


def _server(code: int) -> HTTPServer:
    handler = type("Answer", (_Answer,), {"code": code})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_failed_notifications_reach_the_console_the_summary_and_the_page(tmp_path, capsys):
    server = _server(400)
    closed = socket.create_server(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    notifier = Notifier(routing_key="k", slack_url=f"http://127.0.0.1:{dead_port}/hook",
                        pagerduty_url=f"http://127.0.0.1:{server.server_port}/v2/enqueue")
    notifier.pagerduty({"event_action": "trigger", "payload": {}})
    notifier.slack({"text": "down"}, "trigger")
    server.shutdown()
    unsent = notifier.failed()
    assert [n.describe() for n in unsent] == ["pagerduty trigger: HTTP 400", "slack trigger: failed: ConnectError"]
    console = capsys.readouterr().err
    assert "notification NOT sent: pagerduty trigger: HTTP 400" in console and "slack trigger" in console
    report = {"status": "passed", "message": "2 notification(s) NOT sent: ...", "target": "local",
              "started_at": time.time(), "wall_time_s": 1.0, "baseline": {}, "experiments": [],
              "notifications_failed": [n.describe() for n in unsent], "dry_run": False, "ledger_clean": True}
    out = write_report(report, [], tmp_path / "r")
    summary = (out / "summary.md").read_text().splitlines()[0]
    assert summary.startswith("## Game day: PASSED") and "2 notification(s) NOT sent" in summary
    assert "2 notification(s) NOT sent" in (out / "index.html").read_text()
