"""The second reference service, end to end, through the ``gameday`` command as a user runs it: nothing in gameday/
knows ticket-office; only ``profiles/ticket-office.yaml`` does.

ticket-office differs from ecommerce-backend where it matters: other paths and JSON shapes, a journey that needs a
login token and ids captured from earlier answers, a TOML configuration file it reads at start, a migration as
setup command, Redis critical (its outage is an outage that pages, not a degradation), no Kafka, and a bad release
that fails every API call while passing its probes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "ticket-office.yaml"


def _gameday(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True,
                          check=False, cwd=ROOT, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def office() -> Iterator[dict[str, str]]:
    """ticket-office's own local stack, in a state directory of its own, taken down afterwards."""
    env = {**os.environ, "GAMEDAY_PROFILE": str(PROFILE),
           "GAMEDAY_STATE_DIR": f"/var/tmp/gameday-test-{os.getuid()}-ticket-office"}
    _gameday(env, "down")
    up = _gameday(env, "up", timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield env
    finally:
        _gameday(env, "abort")
        down = _gameday(env, "down")
        assert down.returncode == 0, down.stderr


def test_profile_check_passes_on_the_running_service(office: dict[str, str]) -> None:
    res = _gameday(office, "profile", "check", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    checks = {(c["kind"], c["name"]): c for c in json.loads(res.stdout)["checks"]}
    assert checks[("journey", "buy-ticket")]["ok"]  # login token + captured event, hold and ticket ids
    assert checks[("health", "/_status/alive")]["ok"] and checks[("readiness", "/_status/ready")]["ok"]
    assert {name for kind, name in checks if kind == "dependency"} == {"postgres", "redis"}


def test_smoke_gate_passes_with_its_own_endpoints_journeys_and_dependencies(office: dict[str, str]) -> None:
    res = _gameday(office, "smoke", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    (attempt,) = report["attempts"]
    verdicts = {v["item"]: v for v in attempt["verdicts"]}
    assert all(v["status"] == "pass" for v in verdicts.values()), verdicts
    assert "postgres" in verdicts["dependencies"]["explanation"] and "redis" in verdicts["dependencies"]["explanation"]
    assert "kafka" not in res.stdout and "api/products" not in res.stdout  # nothing of the reference service


def test_redis_outage_is_diagnosed_as_a_failure_of_a_critical_dependency(office: dict[str, str]) -> None:
    inject = _gameday(office, "inject", "stop-dependency", "-p", "dependency=redis")
    assert inject.returncode == 0, inject.stderr
    try:
        diag = _gameday(office, "diagnose", "--json")
        assert diag.returncode == 0, diag.stderr
        verdict = json.loads(diag.stdout)["verdict"]
        assert verdict["key"] == "dependency-failure:redis", verdict
    finally:
        assert _gameday(office, "abort").returncode == 0


def test_a_game_day_pages_for_its_critical_redis_and_skips_kafka(office: dict[str, str], tmp_path: Path) -> None:
    res = _gameday(office, "run", "redis-down", "kafka-down", "--no-live", "--baseline", "4",
                   "--verify-window", "4", "--reports-dir", str(tmp_path), timeout=300)
    (report_file,) = tmp_path.glob("*/report.json")
    report = json.loads(report_file.read_text())
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr
    (redis,) = report["experiments"]
    assert redis["name"] == "redis-down" and redis["status"] == "passed" and redis["expects_outage"]
    assert redis["diagnosis"]["verdict"] == "dependency-failure:redis" and redis["diagnosis"]["correct"]
    assert redis["alert"]["alertname"] == "APIEndpointDown" and redis["alert"]["fired_at"], redis["alert"]
    assert report["skipped"] == [{"name": "kafka-down", "title": report["skipped"][0]["title"],
                                  "fault": "stop-dependency", "reason": "ticket-office has no kafka dependency"}]
