"""Helpers of the chaos tests (no tests here): run ``gameday chaos`` as a subprocess, watch its ledger and journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gameday import reasons
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments" / "service-outage"
# the gameday CLI with the chaos group registered (the same main() as `gameday chaos ...`)
CLI = [sys.executable, "-m", "gameday", "chaos"]


def env_for(state_dir: Path | str, **extra: str) -> dict[str, str]:
    """The environment of a subprocess run against one state directory (and nothing else of ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMEDAY_") and k not in ("TARGET", "CONTEXT")}
    return {**env, "GAMEDAY_STATE_DIR": str(state_dir), **extra}


def gameday_chaos(*args: str, state_dir: Path | str, cwd: Path, timeout: float = 120,
                  **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``gameday chaos ARGS`` to completion."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=env_for(state_dir, **extra))


def start_run(experiment: Path | str, journal: Path, state_dir: Path | str, cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``gameday chaos run EXPERIMENT --journal J`` in the background (output to files in ``cwd``)."""
    out = (cwd / "run.out").open("wb")
    err = (cwd / "run.err").open("wb")
    return subprocess.Popen([*CLI, "run", str(experiment), "--journal", str(journal)], stdout=out, stderr=err,
                            cwd=cwd, env=env_for(state_dir))


def read_json(path: Path) -> Any:
    """A JSON file's content, or None while it does not exist (files are replaced atomically)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def ledger_entries(state_dir: Path) -> list[dict[str, Any]]:
    """The raw ledger entries of a state directory."""
    return read_json(Path(state_dir) / "ledger.json") or []


def kills(state_dir: Path | str) -> list[float]:
    """When gameday killed a replica (its events file: one "Killed" event per replica per round), oldest first."""
    path = Path(state_dir) / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e["timestamp"] for e in map(json.loads, filter(None, lines)) if e["reason"] == reasons.KILLED]


def wait_ledger(state_dir: Path, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30) -> None:
    """Poll the ledger until an entry matches."""
    wait_for(lambda: any(predicate(e) for e in ledger_entries(state_dir)), timeout=timeout, interval=0.05, what=what)


def wait_phase(journal: Path, phase: str, activity: str | None = None, timeout: float = 60) -> dict[str, Any]:
    """Poll the journal being written until gameday's phase (and running activity) is the one given."""

    def there() -> dict[str, Any] | None:
        data = read_json(journal) or {}
        extra = data.get("gameday") or {}
        if extra.get("phase") == phase and (activity is None or extra.get("activity") == activity):
            return data
        return None

    return wait_for(there, timeout=timeout, interval=0.05, what=f"journal phase {phase} {activity or ''}")


def variant(name: str, dest: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of a shipped experiment with something changed (for tests that need a phase to last)."""
    experiment = json.loads((EXPERIMENTS / f"{name}.json").read_text())
    change(experiment)
    dest.write_text(json.dumps(experiment))
    return dest


def finish(proc: subprocess.Popen[bytes], timeout: float = 120) -> int:
    """Wait for a run to end by itself (bounded); kill it and fail if it does not."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError(f"run did not end within {timeout:.0f}s") from None


def one_line(stderr: str) -> str:
    """The single line a refused command prints (fails when there is more, or a traceback)."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {stderr!r}"
    assert "Traceback" not in stderr
    return lines[0]
