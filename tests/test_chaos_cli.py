"""``gameday chaos``: each bad input is one clear line and a non-zero exit, with nothing injected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chaos_support import EXPERIMENTS, gameday_chaos, ledger_entries, one_line, variant
from tests.helpers import wait_for


def snapshot(target: Any) -> dict[str, Any]:
    """What an injection would change: replica processes, dependency states, release, configuration."""
    return {
        "replicas": {r.name: (r.pid, r.phase) for r in target.replicas()},
        "dependencies": {d.name: (d.pid, d.state) for d in target.dependency_states()},
        "revision": target.current_revision(),
        "config": target.config(),
    }


def _bad_fault(exp: dict[str, Any]) -> None:
    exp["method"][0]["provider"]["arguments"]["fault"] = "kill-all-the-things"


def _bad_replica(exp: dict[str, Any]) -> None:
    exp["method"][0]["provider"]["arguments"]["params"]["replicas"] = "../../etc"


def _no_method(exp: dict[str, Any]) -> None:
    del exp["method"]


@pytest.mark.slow
@pytest.mark.parametrize(("source", "change", "code", "words"), [
    ("postgres-down", None, 2, "malformed experiment"),
    ("postgres-down", _no_method, 2, "malformed experiment"),
    ("all-pods-down", _bad_fault, 2, "unknown fault 'kill-all-the-things'"),
    ("all-pods-down", _bad_replica, 2, "replicas: '../../etc' is not a replica name"),
])
def test_bad_experiments_are_refused_before_anything_changes(
    healthy: Any, tmp_path: Path, source: str, change: Any, code: int, words: str
) -> None:
    path = tmp_path / "experiment.json"
    if change is None:
        path.write_text((EXPERIMENTS / f"{source}.json").read_text()[:-40])  # cut short: not JSON any more
    else:
        variant(source, path, change)
    before = snapshot(healthy)
    result = gameday_chaos("run", str(path), state_dir=healthy.state.root, cwd=tmp_path)
    assert result.returncode == code
    assert words in one_line(result.stderr)
    assert ledger_entries(healthy.state.root) == []
    assert snapshot(healthy) == before
    assert not (tmp_path / "reports").exists()  # refused before a journal was even started


def test_an_unknown_experiment_name_lists_the_shipped_ones(tmp_path: Path) -> None:
    result = gameday_chaos("run", "no-such-outage", state_dir=tmp_path / "state", cwd=tmp_path)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "no experiment 'no-such-outage'" in line and "all-pods-down" in line


def test_a_target_that_is_down_is_one_line(tmp_path: Path) -> None:
    result = gameday_chaos("run", "postgres-down", state_dir=tmp_path / "state", cwd=tmp_path)
    assert result.returncode == 1
    assert "local stack is not running" in one_line(result.stderr)
    assert ledger_entries(tmp_path / "state") == []


@pytest.mark.parametrize(("context", "namespace", "words"), [
    ("prod-east", "gameday", "context 'prod-east': not in the allowlist"),
    ("kind-gameday", "payments", "namespace 'payments': not in the allowlist"),
    ("kind-gameday", "production", "without an explicit flag"),
])
def test_a_target_outside_the_allowlist_is_refused_before_any_client_exists(
    tmp_path: Path, context: str, namespace: str, words: str
) -> None:
    result = gameday_chaos(
        "run", "all-pods-down", state_dir=tmp_path / "state", cwd=tmp_path,
        GAMEDAY_TARGET="kubernetes", GAMEDAY_KUBERNETES__CONTEXT=context, GAMEDAY_KUBERNETES__NAMESPACE=namespace,
        KUBECONFIG=str(tmp_path / "no-such-kubeconfig"),
    )
    assert result.returncode == 3
    assert words in one_line(result.stderr)
    assert ledger_entries(tmp_path / "state") == []


def test_validate_and_list_cover_every_shipped_experiment(tmp_path: Path) -> None:
    result = gameday_chaos("validate", state_dir=tmp_path / "state", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("valid: ") == len(list(EXPERIMENTS.glob("*.json")))
    listed = gameday_chaos("list", state_dir=tmp_path / "state", cwd=tmp_path)
    assert {line.split()[0] for line in listed.stdout.splitlines()} == {p.stem for p in EXPERIMENTS.glob("*.json")}


def test_validate_rejects_a_bad_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"title": "t", "description": "d", "method": [{"type": "action", "name": "a"}]}))
    result = gameday_chaos("validate", str(path), state_dir=tmp_path / "state", cwd=tmp_path)
    assert result.returncode == 2
    assert "malformed experiment" in one_line(result.stderr)


@pytest.mark.slow
def test_a_system_not_healthy_before_the_experiment_fails_the_run_without_injecting(
    healthy: Any, tmp_path: Path
) -> None:
    # chaos run would exit 0 here; the journal decides: the steady state failed, the method never ran
    healthy.stop_dependency("redis")  # outside the ledger: the system is simply unhealthy (the fixture restores it)
    wait_for(lambda: _readyz_status(healthy.base_url()) == "degraded", 15, what="the replicas to notice")
    journal = tmp_path / "journal.json"
    result = gameday_chaos("run", "postgres-down", "--journal", str(journal), "--quiet",
                           state_dir=healthy.state.root, cwd=tmp_path)
    assert result.returncode == 1
    assert "system not healthy before the experiment: runbook-steady-state (failed: health-checks-pass" \
        in result.stdout
    data = json.loads(journal.read_text())
    assert data["run"] == [] and data["gameday"]["verdict"]["ok"] is False
    assert ledger_entries(healthy.state.root) == []
    assert healthy.check_dependency("postgres").ok  # the fault was never applied


def _readyz_status(base_url: str) -> str | None:
    try:
        return httpx.get(base_url + "/readyz", timeout=2).json().get("status")
    except (httpx.HTTPError, ValueError):
        return None
