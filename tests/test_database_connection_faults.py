"""The Database Connection Issues runbook's faults on the live local stack: each really breaks the service's new
connections (PostgreSQL itself still answering), gets the runbook's verdict from outside evidence, and is undone,
also when the process that injected it is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from gameday import faults
from gameday.abort import abort_all
from gameday.diagnose import diagnose, load_runbook
from gameday.ledger import Ledger
from gameday.runbooks.database_connection_issues.faults.postgres import admin, tcp_kwargs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = load_runbook(ROOT / "runbooks/database-connection-issues/database-connection-issues.md")
REFUSALS = {"exhaust-connections": "too many clients", "rotate-credentials": "password authentication failed"}


def wait_for(condition: Callable[[], bool], timeout: float, what: str | Callable[[], str]) -> None:
    """Poll until ``condition`` holds; fail with ``what`` (or what it returns then) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what if isinstance(what, str) else what()}")
        time.sleep(0.2)  # poll


def new_connection_error(target) -> str:
    """"" when a new connection, made as the service makes it (TCP, its user, the password it had), succeeds; else
    why."""
    kwargs = {**tcp_kwargs(target, "postgres", "gameday-test"), "connect_timeout": 3, "password": "the-old-one"}
    try:
        psycopg.connect(**kwargs).close()
    except psycopg.OperationalError as exc:
        return " ".join(str(exc).split())
    return ""


def postmaster_started(target, timeout: float = 30.0) -> float:
    """When the running PostgreSQL server started (waiting out "the database system is starting up")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with admin(target, "postgres") as conn:
                return float(conn.execute("SELECT extract(epoch FROM pg_postmaster_start_time())").fetchone()[0])
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)  # poll


def all_ready(target) -> bool:
    return all(r.ready for r in target.replicas())


@pytest.mark.parametrize("fault", sorted(REFUSALS))
def test_fault_refuses_new_connections_is_diagnosed_and_undone(healthy, fault):
    ledger = Ledger(Path(healthy.state.ledger))
    entry = faults.inject(healthy, ledger, fault, {"dependency": "postgres"})
    try:
        assert REFUSALS[fault] in new_connection_error(healthy)
        wait_for(lambda: not any(r.ready for r in healthy.replicas()), 30, f"{fault} to take every replica out")
        assert healthy.check_dependency("postgres").ok  # pg_isready: PostgreSQL itself still answers
        profile = healthy.settings.service
        result = diagnose(healthy, profile, RUNBOOK)
        chosen = faults.get_fault(fault)
        expected = chosen.expected_verdict(chosen.validate({"dependency": "postgres"}, profile), profile, "local")
        assert result.verdict.key == expected, f"{result.verdict.summary}\n" + "\n".join(result.verdict.evidence)
        assert any(REFUSALS[fault] in line for line in result.verdict.evidence)
    finally:
        faults.undo(healthy, ledger, entry)
    assert new_connection_error(healthy) == ""
    assert ledger.entries() == []
    wait_for(lambda: all_ready(healthy), 30, "every replica ready again")
    assert not list((healthy.state.root / "faults").glob("*.secret"))  # the saved password verifier is gone


def test_exhausted_connections_outlive_the_injecting_process_and_abort_frees_them(healthy):
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(healthy.state.root)}
    run = subprocess.run([sys.executable, "-m", "gameday", "inject", "exhaust-connections"], capture_output=True,
                         text=True, timeout=60, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr
    assert "too many clients" in new_connection_error(healthy)  # its holder still holds every slot
    undone, failed = abort_all(Ledger(Path(healthy.state.ledger)), settings=healthy.settings)
    assert failed == [], failed
    assert any(u.startswith("exhaust-connections") for u in undone), undone
    assert new_connection_error(healthy) == ""
    wait_for(lambda: all_ready(healthy), 30, "every replica ready again")


def test_postgres_restart_drops_connections_and_the_service_reconnects_by_itself(healthy):
    ledger = Ledger(Path(healthy.state.ledger))
    before = {r.name: r.pid for r in healthy.replicas()}
    started = postmaster_started(healthy)
    entry = faults.inject(healthy, ledger, "restart-dependency", {"dependency": "postgres"})
    try:
        assert postmaster_started(healthy) > started  # a new server: every connection the replicas had is gone
        # The replicas' readiness may drop for a moment once they find their pooled connections gone (HAProxy's
        # view lags it): what the service promises is to be whole again by itself within its recovery target,
        # and the diagnosis then to find nothing wrong.
        seen: list[str] = []

        def nothing_wrong() -> bool:
            verdict = diagnose(healthy, healthy.settings.service, RUNBOOK).verdict
            seen.append(f"{verdict.key}: {verdict.summary}")
            return all_ready(healthy) and verdict.key == "no-outage"

        wait_for(nothing_wrong, healthy.settings.service.slo.recover_within_s,
                 lambda: f"no outage found after the restart (last: {seen[-1] if seen else 'none'})")
        assert {r.name: r.pid for r in healthy.replicas()} == before  # reconnected, not restarted
    finally:
        faults.undo(healthy, ledger, entry)


def test_the_settle_probe_waits_out_a_dip_and_fails_a_service_that_stays_unready(healthy, settings) -> None:
    import signal
    import threading

    from gameday.chaos.probes import ProbeFailed
    from gameday.context import RunContext
    from gameday.runbooks.database_connection_issues.actions import settles_by_itself

    run = RunContext.from_settings(settings, "database-connection-issues").configuration()
    calm = settles_by_itself(1, 30, configuration=run)
    assert calm["dips"] == [] and calm["watched_s"] >= 1
    pid = int(healthy.supervisor.info("replica-0")["pid"])
    os.kill(pid, signal.SIGSTOP)  # its readiness probe goes unanswered: not ready, as a replica on a dead pool
    thaw = threading.Timer(3.0, os.kill, (pid, signal.SIGCONT))
    thaw.start()
    try:
        dipped = settles_by_itself(1, 30, configuration=run)
    finally:
        thaw.cancel()
        os.kill(pid, signal.SIGCONT)
    assert [d["unready"] for d in dipped["dips"]] == [["replica-0"]] and dipped["dips"][0]["lasted_s"] > 0
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(ProbeFailed, match="replica-0 not ready again"):
            settles_by_itself(1, 2, configuration=run)
    finally:
        os.kill(pid, signal.SIGCONT)
