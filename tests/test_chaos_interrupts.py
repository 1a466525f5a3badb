"""Guaranteed cleanup: runs interrupted by SIGINT/SIGTERM at every phase, or killed, leave no fault behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gameday.chaos.journal import verdict_from_journal
from gameday.targets.local.stack import load_stack
from tests.chaos_support import (
    EXPERIMENTS,
    env_for,
    finish,
    gameday_chaos,
    ledger_entries,
    read_json,
    start_run,
    variant,
    wait_ledger,
    wait_phase,
)

pytestmark = pytest.mark.slow

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


def assert_back_to_steady_state(stack: Any) -> None:
    """No fault left: ledger empty, every replica ready on the release and configuration, every dependency up."""
    assert ledger_entries(stack.state.root) == []
    assert stack.wait_healthy(timeout=30), "service did not return to healthy"
    assert {d.state for d in stack.dependency_states()} == {"running"}
    assert stack.current_revision().version == stack.profile.local.release
    assert stack.config() == load_stack(stack.state)["config"]


def interrupted_journal(journal: Path, proc: subprocess.Popen[bytes], sig: signal.Signals) -> dict[str, Any]:
    """Wait for the run to end; check it says it was interrupted by ``sig`` and return its journal."""
    code = finish(proc)
    data = read_json(journal)
    print(f"\njournal: {journal}")
    assert code == EXIT[sig], (journal.parent / "run.err").read_text()[-2000:]
    assert data["status"] == "interrupted"
    assert data["gameday"]["signals"][0]["signal"] == sig.name
    ok, message = verdict_from_journal(data)
    assert not ok and message.startswith(f"interrupted ({sig.name} during")
    assert (journal.parent / "run.out").read_text().startswith("INTERRUPTED")
    return data


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_during_injection(healthy: Any, tmp_path: Path, sig: signal.Signals) -> None:
    # kill-replicas takes 8 s to apply (16 rounds): the signal lands while the ledger says it is being applied
    journal = tmp_path / "journal.json"
    proc = start_run(EXPERIMENTS / "all-pods-down.json", journal, healthy.state.root, tmp_path)
    wait_ledger(healthy.state.root, lambda e: e["fault"] == "kill-replicas" and e["state"] in ("injecting", "applying"),
                "kill-replicas being injected")
    proc.send_signal(sig)
    data = interrupted_journal(journal, proc, sig)
    assert data["gameday"]["signals"][0]["activity"] == "inject-kill-replicas"
    assert [r["activity"]["name"] for r in data["run"]] == ["inject-kill-replicas"]  # the method stopped there
    assert_back_to_steady_state(healthy)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_during_the_method(healthy: Any, tmp_path: Path, sig: signal.Signals) -> None:
    # postgres stopped; the symptoms take ~5 s (the service's grace period): interrupt while they are awaited
    journal = tmp_path / "journal.json"
    proc = start_run(EXPERIMENTS / "postgres-down.json", journal, healthy.state.root, tmp_path)
    wait_phase(journal, "method", "dependency-loss-as-profiled")
    assert [e["state"] for e in ledger_entries(healthy.state.root)] == ["injected"]
    proc.send_signal(sig)
    data = interrupted_journal(journal, proc, sig)
    # SIGTERM interrupted the run (chaos run alone would only fail the current activity and go on)
    assert "start-postgres" not in [r["activity"]["name"] for r in data["run"]]
    assert [(r["activity"]["name"], r["status"]) for r in data["rollbacks"]] == [("undo-faults", "succeeded")]
    assert_back_to_steady_state(healthy)


def _no_resolution(exp: dict[str, Any]) -> None:
    exp["method"] = exp["method"][:1]  # inject only: the rollback does the whole repair, and takes seconds


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_during_the_rollbacks_then_again_during_cleanup(
    healthy: Any, tmp_path: Path, sig: signal.Signals
) -> None:
    journal = tmp_path / "journal.json"
    experiment = variant("bad-config", tmp_path / "bad-config-unresolved.json", _no_resolution)
    proc = start_run(experiment, journal, healthy.state.root, tmp_path)
    wait_phase(journal, "rollbacks", "undo-faults")
    proc.send_signal(sig)
    wait_phase(journal, "cleanup")  # undoing the configuration again: a rolling restart, seconds long
    proc.send_signal(sig)  # an impatient operator must not cut the cleanup short
    data = interrupted_journal(journal, proc, sig)
    assert [(s["signal"], s["phase"]) for s in data["gameday"]["signals"]] == [(sig.name, "rollbacks"),
                                                                              (sig.name, "cleanup")]
    cleanup = data["gameday"]["cleanup"]  # the interrupted undo left its entry: the runner undid it after
    assert [c["undone"] for c in cleanup] == [True] and cleanup[0]["fault"].startswith("bad-config")
    assert_back_to_steady_state(healthy)


def test_killed_run_blocks_the_next_until_gameday_abort(healthy: Any, tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    proc = start_run(EXPERIMENTS / "postgres-down.json", journal, healthy.state.root, tmp_path)
    wait_ledger(healthy.state.root, lambda e: e["state"] == "injected", "postgres stopped")
    proc.kill()
    finish(proc, timeout=10)
    left = ledger_entries(healthy.state.root)
    assert [e["fault"] for e in left] == ["stop-dependency"]
    assert not healthy.check_dependency("postgres").ok  # the fault really stayed

    refused = gameday_chaos("run", "redis-down", state_dir=healthy.state.root, cwd=tmp_path)
    assert refused.returncode == 3
    note, line = refused.stderr.strip().splitlines()  # the dead run's game-day lock is taken over, with a note
    assert note.startswith("gameday: took over the lock of a game day that died") and "Traceback" not in line
    assert "still holds 1 fault(s)" in line and "gameday abort" in line
    assert ledger_entries(healthy.state.root) == left  # nothing new injected

    abort = subprocess.run([str(Path(sys.executable).with_name("gameday")), "abort"], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path, env=env_for(healthy.state.root))
    assert abort.returncode == 0, abort.stderr
    assert "undone: stop-dependency" in abort.stdout
    assert_back_to_steady_state(healthy)
