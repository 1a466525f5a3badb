"""The history store: migrations on SQLite, a real report imported, bad databases refused with one line and left
as they were, and (slow) the same store on a throwaway PostgreSQL server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from gameday.config import HistorySettings, Settings
from gameday.history.records import from_game_day, read_report, run_id
from gameday.history.remember import remember_game_day
from gameday.history.schema import VERSION_TABLE, metadata
from gameday.history.score import Targets
from gameday.history.store import HistoryError, RunFilter, history_url, open_store, schema_revision
from gameday.result import GameDayReport
from tests.helpers import wait_for

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "tests" / "data" / "history" / "report-all-pods-down.json"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "history-pw-not-shown-91c2"


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'history.db'}"


def gameday(*args: str, state: Path, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(state)}
    env.pop("GAMEDAY_HISTORY__URL", None)
    if url:
        env["GAMEDAY_HISTORY__URL"] = url
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_a_new_history_is_migrated_to_the_newest_schema_and_matches_the_tables(tmp_path):
    store = open_store(sqlite_url(tmp_path))
    with store.engine.connect() as conn:
        assert schema_revision(conn) == "0001"
        assert set(inspect(conn).get_table_names()) == {"gameday_runs", "gameday_experiments", VERSION_TABLE}
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), metadata)
    store.close()
    assert diffs == [], f"schema.py and the migrations disagree: {diffs}"


def test_a_real_report_is_imported_with_its_figures_and_reopening_keeps_it(tmp_path):
    report = read_report(REPORT)
    run = from_game_day(report, Targets(), str(REPORT.parent))
    store = open_store(sqlite_url(tmp_path))
    assert store.record(run, replace=False) is True
    assert store.record(run, replace=False) is False  # the same report again: skipped, not doubled
    store.close()
    store = open_store(sqlite_url(tmp_path))  # a second open migrates nothing and loses nothing
    [back] = store.runs()
    store.close()
    assert back.id == run_id(report["started_at"]) and back.kind == "run" and back.target == "local"
    assert back.status == "passed" and back.exit_code == 0 and back.score == 100.0
    exp = back.experiments[0]
    assert exp.name == "all-pods-down" and exp.verdict == "passed" and exp.fault == "kill-replicas"
    assert exp.phases["detect"] == report["experiments"][0]["time_to_detect_s"]
    assert exp.phases["recover"] == report["experiments"][0]["time_to_recover_s"]
    assert exp.phases["alert"] == report["experiments"][0]["alert"]["time_to_fire_s"]
    assert exp.diagnosis_correct is True and exp.diagnosis_actual == exp.diagnosis_expected == "all-replicas-down"
    assert exp.alert_fired is True and exp.alert_as_expected is True
    assert exp.checklist_passed == len(exp.checklist) == 6
    assert {"name", "status", "measured"} == set(exp.checklist[0])


def test_runs_and_import_and_compare_on_the_command_line(tmp_path):
    state = tmp_path / "state"
    first = json.loads(REPORT.read_text())
    second = {**first, "started_at": first["started_at"] + 3600}
    second["experiments"] = [{**first["experiments"][0], "time_to_recover_s": 25.0}]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "report.json").write_text(json.dumps(second))
    done = gameday("runs", "import", str(REPORT), str(tmp_path / "b" / "report.json"), state=state)
    assert done.returncode == 0, done.stderr
    assert "imported 2 run(s)" in done.stdout
    listed = json.loads(gameday("runs", "--json", "--experiment", "all-pods-down", state=state).stdout)
    assert [r["started_at"] for r in listed] == [first["started_at"], second["started_at"]]
    a, b = listed[0]["id"], listed[1]["id"]
    compared = gameday("compare", a, b, "--json", state=state)
    assert compared.returncode == 0, compared.stderr
    recover = next(d for d in json.loads(compared.stdout)["differences"] if d["phase"] == "recover")
    assert recover["delta"] == round(25.0 - first["experiments"][0]["time_to_recover_s"], 2)
    assert recover["judgement"] == "noise unknown"  # two runs are no history
    table = gameday("runs", "--last", "1", state=state).stdout
    assert b in table and a not in table


def test_unknown_run_id_is_one_line_and_exit_2(tmp_path):
    state = tmp_path / "state"
    gameday("runs", "import", str(REPORT), state=state)
    done = gameday("compare", "nope", "20", state=state)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "no run 'nope' in the history" in done.stderr


def test_a_file_that_is_no_report_is_one_line_and_the_good_ones_are_imported(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    done = gameday("runs", "import", str(REPORT), str(bad), state=tmp_path / "state")
    assert done.returncode == 2 and "bad.json: not JSON" in done.stderr and "Traceback" not in done.stderr
    assert "imported 1 run(s)" in done.stdout


@pytest.mark.parametrize("kind", ["corrupt", "foreign", "empty"])
def test_a_corrupt_or_foreign_database_is_refused_and_left_as_it_was(tmp_path, kind):
    state = tmp_path / "state"
    state.mkdir()
    db = state / "history.db"
    if kind == "corrupt":
        db.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    elif kind == "empty":  # a truncated history (full disk, bad copy) is not re-initialised over
        db.write_bytes(b"")
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("create table invoices (id integer primary key, total real)")
            conn.execute("insert into invoices values (1, 9.5)")
    before = db.read_bytes()
    for args in (("runs",), ("runs", "import", str(REPORT)), ("compare", "a", "b")):
        done = gameday(*args, state=state)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert str(db) in done.stderr
    assert db.read_bytes() == before, "the database was changed"
    assert sorted(p.name for p in state.iterdir()) == ["history.db"], "something was written next to it"
    if kind in ("foreign", "empty"):
        assert "not a gameday history" in done.stderr


@pytest.mark.parametrize("history", ["unreachable", "empty"])
def test_fail_on_regression_refuses_a_history_it_cannot_read_before_the_game_day(tmp_path, history):
    """The gate needs the history: one it cannot open ends the run at once (exit 2), not after every experiment;
    with the stack down the run would otherwise fail on the target (exit 1), so the order is what is tested."""
    url = None
    if history == "unreachable":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # closed again: nothing listens there
        url = f"postgresql://gd:{PASSWORD}@127.0.0.1:{port}/history"
    else:
        (tmp_path / "history.db").write_bytes(b"")
    before = sorted(p.name for p in tmp_path.iterdir())
    done = gameday("run", "all-pods-down", "--fail-on-regression", "--no-live", state=tmp_path, url=url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1
    assert ("cannot open the history" if history == "unreachable" else "history.db is an empty file") in done.stderr
    assert "Traceback" not in done.stderr and PASSWORD not in done.stdout + done.stderr
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "the run started (state written)"


def test_a_schema_newer_than_this_gameday_is_refused(tmp_path):
    url = sqlite_url(tmp_path)
    open_store(url).close()
    with sqlite3.connect(tmp_path / "history.db") as conn:
        conn.execute(f"update {VERSION_TABLE} set version_num = '0999'")
    with pytest.raises(HistoryError, match="newer than this gameday"):
        open_store(url)


def test_a_postgresql_url_that_does_not_answer_is_one_line_without_the_password(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    done = gameday("runs", state=tmp_path, url=f"postgresql://gd:{PASSWORD}@127.0.0.1:{port}/history")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert PASSWORD not in done.stderr + done.stdout and "***" in done.stderr
    assert f"127.0.0.1:{port}" in done.stderr
    assert time.monotonic() - started < 30


def test_a_history_that_cannot_be_written_never_fails_the_run(tmp_path):
    (tmp_path / "history.db").write_bytes(b"garbage" * 100)
    settings = Settings(state_dir=tmp_path)
    report = GameDayReport.of(read_report(REPORT))
    warnings: list[str] = []
    remember_game_day(report, settings, warn=warnings.append)
    assert len(warnings) == 1 and "run not recorded in the history" in warnings[0]
    assert report.score and report.score.score == 100.0 and report.trends is None  # the report still has its score


def test_the_run_is_recorded_with_its_trends_and_no_secret(tmp_path):
    settings = Settings(state_dir=tmp_path, history=HistorySettings(url=sqlite_url(tmp_path)))
    report = GameDayReport.of(read_report(REPORT))
    report.message = f"failed: connection to postgresql://app:{PASSWORD}@127.0.0.1:5432/app refused"
    remember_game_day(report, settings, warn=pytest.fail)
    assert history_url(settings) == sqlite_url(tmp_path)
    assert report.trends is not None
    assert [r["id"] for r in report.trends["runs"]] == [report.run_id]
    assert report.trends["recover_s"] == {"all-pods-down": [report.experiments[0].time_to_recover_s]}
    assert PASSWORD not in (tmp_path / "history.db").read_bytes().decode("latin-1")


# --- a real PostgreSQL ------------------------------------------------------------------------------
def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL 15 cluster on a free loopback port; its URL (database ``history``)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 is not installed (make install)")
    root = Path(tempfile.mkdtemp(prefix="gameday-history-pg-", dir="/var/tmp"))
    (root / "run").mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(root / "run", "postgres", "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(root / "data"), "-U", "app", "--auth=trust",
                                 "--no-sync"]), check=True, capture_output=True, timeout=60)
    proc = subprocess.Popen(_as_postgres([str(PG_BIN / "postgres"), "-D", str(root / "data"), "-p", str(port),
                                          "-k", str(root / "run"), "-c", "listen_addresses=127.0.0.1",
                                          "-c", "fsync=off"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0,
                 30, what="postgres accepting connections")
        subprocess.run(["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "app", "history"], check=True,
                       timeout=20)
        yield f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/history"
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # fast shutdown
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_the_store_on_postgresql_migrates_records_and_keeps_other_tables(postgres, tmp_path):
    engine = create_engine(postgres.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:  # a team database holds other tables: they stay
        conn.exec_driver_sql("create table if not exists orders (id serial primary key)")
    store = open_store(postgres)
    report = read_report(REPORT)
    assert store.record(from_game_day(report, Targets()))
    later = {**report, "started_at": report["started_at"] + 60, "target": "kubernetes"}
    assert store.record(from_game_day(later, Targets()))
    assert [r.target for r in store.runs()] == ["local", "kubernetes"]
    assert [r.target for r in store.runs(RunFilter(target="kubernetes"))] == ["kubernetes"]
    history = store.phase_history("local", "ecommerce-backend")
    assert history["all-pods-down"]["recover"] == [report["experiments"][0]["time_to_recover_s"]]
    with store.engine.connect() as conn:
        assert schema_revision(conn) == "0001"
        assert "orders" in inspect(conn).get_table_names()
    store.close()
    done = gameday("runs", "--json", state=tmp_path, url=postgres)  # the CLI through GAMEDAY_HISTORY__URL
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 2
    engine.dispose()


@pytest.mark.slow
def test_a_postgresql_table_clash_is_refused(postgres):
    engine = create_engine(postgres.replace("/history", "/postgres").replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("create database clash")
    engine.dispose()
    clash = postgres.replace("/history", "/clash")
    engine = create_engine(clash.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.exec_driver_sql("create table gameday_runs (x int)")
    engine.dispose()
    with pytest.raises(HistoryError, match="no schema version: not a gameday history"):
        open_store(clash)


def test_a_smoke_is_recorded_as_a_run_of_kind_smoke_with_its_checklist(tmp_path):
    from gameday.history.remember import remember_smoke

    settings = Settings(state_dir=tmp_path)
    smoke = {"target": "local", "passed": False, "exit_code": 1, "elapsed_s": 3.4, "attempts": [
        {"label": "verification", "status": "fail", "elapsed_s": 3.1, "verdicts": [
            {"name": "error rate < 1%", "status": "fail", "measured": {"requests": 400, "failures": 12}}]}]}
    remember_smoke(smoke, 1_790_000_000.0, settings, warn=pytest.fail)
    store = open_store(history_url(settings))
    [run] = store.runs(RunFilter(kind="smoke"))
    store.close()
    assert run.status == "failed" and run.exit_code == 1 and run.score is None and run.wall_time_s == 3.4
    [exp] = run.experiments
    assert exp.name == "verification" and exp.verdict == "fail" and exp.phases["verify"] == 3.1
    assert exp.checklist == [{"name": "error rate < 1%", "status": "fail",
                              "measured": {"requests": 400, "failures": 12}}]


def test_the_gate_on_a_finished_game_day_exit_4_only_when_it_passed(tmp_path):
    from gameday.history.gate import EXIT_REGRESSION
    from gameday.history.remember import regression_gate

    settings = Settings(state_dir=tmp_path)
    base = read_report(REPORT)
    for i, recover in enumerate([17.0, 18.0, 16.5, 17.5, 18.5]):
        past = GameDayReport.of(json.loads(json.dumps(base)))
        past.started_at = base["started_at"] - 3600 * (5 - i)
        past.experiments[0].time_to_recover_s = recover
        remember_game_day(past, settings, warn=pytest.fail)
    slow = GameDayReport.of(json.loads(json.dumps(base)))
    slow.experiments[0].time_to_recover_s = 40.0
    remember_game_day(slow, settings, warn=pytest.fail)
    said: list[str] = []
    assert regression_gate(slow, settings, 0, said.append) == EXIT_REGRESSION
    assert said[0].startswith("regression gate: all-pods-down: recover 40.00 s REGRESSION: baseline median 17.50 s")
    assert "threshold 26.25 s" in said[0]  # 17.5 + 50% of 17.5 (the MAD band, 3 x 1.48 x 0.5 = 2.2 s, is smaller)
    said.clear()
    assert regression_gate(slow.model_copy(update={"status": "failed"}), settings, 1, said.append) == 1  # stays 1
    assert "REGRESSION" in said[0]  # ... and still says what regressed
    assert regression_gate(slow.model_copy(update={"status": "interrupted"}), settings, 130, pytest.fail) == 130
    unchanged = json.loads(json.dumps(base))
    unchanged["started_at"] += 60
    unchanged["experiments"][0]["time_to_recover_s"] = 19.0
    said.clear()
    assert regression_gate(unchanged, settings, 0, said.append) == 0
    assert said == ["regression gate: 0 regression(s) in 3 figure(s) judged"]
