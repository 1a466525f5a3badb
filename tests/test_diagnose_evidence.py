"""Evidence collection through the Target interface: concurrent, bounded in time, read-only."""

from __future__ import annotations

import time

from gameday.diagnose.evidence import collect, line_time, match_logs
from gameday.targets.model import TargetError
from tests.diagnose_fakes import PROFILE, FakeTarget

PATTERNS = ["Connection refused", "service unavailable"]
DEPENDENCIES = [d.name for d in PROFILE.dependencies]


def test_collects_every_step_of_the_runbook():
    target = FakeTarget()
    ev = collect(target, PATTERNS, DEPENDENCIES)
    assert [r.name for r in ev.replicas] == ["replica-0", "replica-1", "replica-2"]
    assert len(ev.endpoints) == 3
    assert ev.load_balancer is not None and ev.load_balancer.state == "up"
    assert [r.number for r in ev.history] == [1]
    assert ev.events and ev.events[0].reason == "Started"
    assert [c.name for c in ev.dependencies] == ["postgres", "redis", "kafka"]
    assert ev.log_lines_read == 3
    assert ev.errors == {}
    assert target.actions == []


def test_log_lines_matching_the_runbook_patterns_and_crash_lines_are_kept():
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 5)) + ".000Z"
    target = FakeTarget()
    target.log_lines["replica-1"] = [
        f"{stamp} INFO pod=replica-1 GET /api/products -> 200",
        f"{stamp} ERROR pod=replica-1 postgres: Connection refused (127.0.0.2:5432)",
        f"{stamp} ERROR pod=replica-1 GET /readyz -> 503 Service Unavailable",
        f"{stamp} FATAL pod=replica-1 release 1.5.0-broken crashed: TypeError",
        "Traceback (most recent call last):",
    ]
    ev = collect(target, PATTERNS, DEPENDENCIES)
    assert [(m.replica, m.pattern) for m in ev.log_matches] == [
        ("replica-1", "Connection refused"),
        ("replica-1", "service unavailable"),
        ("replica-1", "FATAL"),
        ("replica-1", "Traceback"),
    ]


def test_old_timestamped_lines_are_not_evidence_now():
    old = "2020-01-01T00:00:00.000Z ERROR pod=r Connection refused"
    fresh = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z ERROR pod=r Connection refused"
    matches = match_logs("r", [old, fresh, "no stamp: Connection refused"], PATTERNS, since=time.time() - 60)
    assert [m.line for m in matches] == [fresh, "no stamp: Connection refused"]


def test_line_time_reads_utc_and_offsets():
    assert line_time("2026-01-01T00:00:00Z x") == line_time("2026-01-01T01:00:00+01:00 x")
    assert line_time("no time here") is None


def test_a_hanging_dependency_check_costs_at_most_the_budget():
    target = FakeTarget()
    target.delays["check:postgres"] = 3.0
    started = time.monotonic()
    try:
        ev = collect(target, PATTERNS, DEPENDENCIES, budget=1.0)
    finally:
        target.released.set()  # the abandoned check ends now instead of hanging on after the test
    assert time.monotonic() - started < 2.0
    postgres = next(c for c in ev.dependencies if c.name == "postgres")
    assert not postgres.ok and "did not return" in postgres.detail
    assert "dependency:postgres" in ev.errors
    assert [c.ok for c in ev.dependencies if c.name != "postgres"] == [True, True]


def test_calls_run_concurrently():
    target = FakeTarget()
    for call in ("replicas", "endpoints", "load_balancer", "history", "events"):
        target.delays[call] = 0.4
    started = time.monotonic()
    collect(target, PATTERNS, DEPENDENCIES)
    assert time.monotonic() - started < 1.5  # five 0.4 s calls, then the logs: far less than in a row


def test_a_failing_call_is_recorded_not_raised():
    target = FakeTarget()
    target.failures["endpoints"] = TargetError("load balancer runtime API unreachable")
    target.failures["history"] = RuntimeError("boom")
    ev = collect(target, PATTERNS, DEPENDENCIES)
    assert ev.errors["endpoints"] == "load balancer runtime API unreachable"
    assert ev.errors["history"] == "RuntimeError: boom"
    assert len(ev.replicas) == 3


def test_the_launchers_echo_of_a_command_is_not_evidence():
    """A command whose flags say "timeout" or "crash" is the platform's words about a start, not a symptom."""
    echo = "gameday launcher: $ gunicorn shop.wsgi --timeout 30 --crash-report off"
    said = "2026-01-01T00:00:00Z worker timeout: Connection refused"
    assert [m.line for m in match_logs("r", [echo, said], [*PATTERNS, "timeout"])] == [said]
