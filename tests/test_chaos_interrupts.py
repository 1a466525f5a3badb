"""Guaranteed cleanup: runs interrupted by SIGINT/SIGTERM at every phase, or killed, leave no fault behind."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
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
    kills,
    ledger_entries,
    read_json,
    start_run,
    variant,
    wait_ledger,
    wait_phase,
)
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
LOOP = int(os.environ.get("CHAOS_INTERRUPT_LOOP", "0"))  # a measurement (README: Faults and safety), not in `make test`


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


def interrupt_injection(healthy: Any, tmp_path: Path, sig: signal.Signals, delay_s: float = 0.0) -> float:
    """Signal a run of all-pods-down ``delay_s`` into its 8 s injection (16 rounds of kills 0.5 s apart; 0: as soon
    as the ledger says it is being applied). Checks the method stopped there, no replica was killed later than 1 s
    after the signal, and the service is back; returns the seconds from the signal to the run's exit."""
    journal = tmp_path / "journal.json"
    before = len(kills(healthy.state.root))
    proc = start_run(EXPERIMENTS / "all-pods-down.json", journal, healthy.state.root, tmp_path)
    try:
        wait_ledger(healthy.state.root,
                    lambda e: e["fault"] == "kill-replicas" and e["state"] in ("injecting", "applying"),
                    "kill-replicas being injected")
        with contextlib.suppress(subprocess.TimeoutExpired):  # the moment chosen: the run must go on until then
            proc.wait(delay_s)
        assert proc.poll() is None, f"the run ended before the signal {delay_s:.2f}s into the injection"
        proc.send_signal(sig)
        data = interrupted_journal(journal, proc, sig)
    finally:
        if proc.poll() is None:  # a failed check: never leave the run going
            proc.kill()
            proc.wait(10)
    exited = time.time()
    (received,) = data["gameday"]["signals"]
    assert (received["phase"], received["activity"]) == ("method", "inject-fault")
    assert [r["activity"]["name"] for r in data["run"]] == ["inject-fault"]  # the method stopped there
    late = [round(t - received["at"], 2) for t in kills(healthy.state.root)[before:] if t > received["at"] + 1.0]
    assert late == [], f"replicas killed after the signal (s): {late}"  # the fault stopped at its next round
    assert [(r["activity"]["name"], r["status"]) for r in data["rollbacks"]] == [("undo-faults", "succeeded")]
    assert_back_to_steady_state(healthy)
    return exited - received["at"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_interrupted_during_injection(healthy: Any, tmp_path: Path, sig: signal.Signals) -> None:
    # the signal lands during the first round (supervisord's XML-RPC calls: the moment one was once lost)
    interrupt_injection(healthy, tmp_path, sig)


@pytest.mark.skipif(not LOOP, reason="a measurement: CHAOS_INTERRUPT_LOOP=50 runs it 50 times")
@pytest.mark.parametrize("seed", range(LOOP or 1))
def test_interrupted_at_a_random_moment_of_the_injection(healthy: Any, tmp_path: Path, seed: int) -> None:
    sig = (signal.SIGINT, signal.SIGTERM)[seed % 2]
    delay_s = random.Random(seed).uniform(0, 6.5)  # the injection lasts 7.5 s and more
    took = interrupt_injection(healthy, tmp_path, sig, delay_s)
    print(f"\nseed {seed}: {sig.name} {delay_s:.2f}s into the injection: exited {took:.1f}s after the signal")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_signals_during_the_rollbacks_never_cut_the_undo_short(
    healthy: Any, tmp_path: Path, sig: signal.Signals
) -> None:
    journal = tmp_path / "journal.json"
    experiment = variant("bad-config", tmp_path / "bad-config-unresolved.json", _no_resolution)
    proc = start_run(experiment, journal, healthy.state.root, tmp_path)
    wait_phase(journal, "rollbacks", "undo-faults")  # undoing the configuration: a rolling restart, seconds long
    err = tmp_path / "run.err"
    proc.send_signal(sig)
    wait_for(lambda: f"gameday: {sig.name}: undoing this run's faults first" in err.read_text(), timeout=10,
             interval=0.05, what="the first signal noted")
    proc.send_signal(sig)  # an impatient operator
    data = interrupted_journal(journal, proc, sig)
    assert f"gameday: {sig.name}: already stopping" in err.read_text()
    assert [s["signal"] for s in data["gameday"]["signals"]] == [sig.name, sig.name]
    assert data["gameday"]["signals"][0]["phase"] == "rollbacks"
    # the undo went on to its end: nothing was left for the runner's cleanup
    assert [(r["activity"]["name"], r["status"]) for r in data["rollbacks"]] == [("undo-faults", "succeeded")]
    assert data["gameday"]["cleanup"] == []
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
