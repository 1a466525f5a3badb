"""Bad flags are refused first: one line, exit 2, before the profile's target is reached or anything is written;
and Ctrl-C while the CLI is still starting is one line and exit 130, never a traceback (issue 25).

The stack is not running in these tests (a state directory of their own): a command that reached for the target
before checking its flags would say "not running" with exit 1, so exit 2 proves the order.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gameday.errors import UsageError
from gameday.flags import within
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]
GAMEDAY = Path(sys.executable).parent / "gameday"  # the console script: what a user's Ctrl-C interrupts


def _gameday(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday", *args], capture_output=True, text=True, timeout=60,
                          check=False, cwd=ROOT, env={**os.environ, "GAMEDAY_STATE_DIR": str(state)})


@pytest.mark.parametrize(("args", "says"), [
    (["run", "--dry-run", "--users", "-5"], "--users must be 1-200, got -5"),
    (["run", "--dry-run", "--wait", "-1"], "--wait must be at least 0 s, got -1"),
    (["run", "--baseline", "-3"], "--baseline must be 0-3600 s, got -3"),
    (["run", "--verify-window", "0"], "--verify-window must be 1-3600 s, got 0"),
    (["run", "--runbook", "nope"], "no runbook package 'nope'"),
    (["coverage", "nope"], "no runbook package 'nope'"),
    (["chaos", "run", "all-pods-down", "--wait", "-1"], "--wait must be at least 0 s, got -1"),
    (["inject", "kill-replicas", "-p", "rounds=0"], "fault kill-replicas: rounds:"),
    (["events", "--limit", "0"], "--limit must be at least 1, got 0"),
    (["logs", "--tail", "-1"], "--tail must be at least 1, got -1"),
    (["rollout", "undo", "--to-revision", "0"], "--to-revision must be at least 1, got 0"),
    (["runs", "--last", "0"], "--last must be at least 1, got 0"),
    (["load", "--spawn-rate", "nan"], "--spawn-rate must be 0.01-200 users/s, got nan"),
    (["load", "--users", "0"], "--users must be 1-200, got 0"),
    (["load", "--duration", "inf"], "--duration must be 1-3600 s, got inf"),
    (["load", "--workers", "9"], "--workers must be 0-8, got 9"),
    (["load", "--wait", "5,nan"], "--wait must be 0 <= MIN <= MAX <= 60 s, got '5,nan'"),
    (["load", "--locustfile", "no/such/locustfile.py"], "--locustfile not found: no/such/locustfile.py"),
    (["load", "--host", "ftp://x", "--users", "0"], "--users must be 1-200, got 0"),
    (["runs", "import", "no/such/report.json"], "no/such/report.json: cannot read"),
    (["coverage", "--fail-under", "150"], "--fail-under must be 0-100 %, got 150"),
    (["coverage", "--fail-under", "nan"], "--fail-under must be 0-100 %, got nan"),
    (["coverage", "--features", "no/such/features"], "--features no/such/features: no such directory"),
    (["--profile", "no/such/profile.yaml", "ledger"], "--profile no/such/profile.yaml: no such file"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_a_bad_flag_is_one_line_and_exit_2_before_anything(tmp_path: Path, args: list[str], says: str) -> None:
    state = tmp_path / "state"
    done = _gameday(state, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == f"gameday: {done.stderr.removeprefix('gameday: ').splitlines()[0]}\n", done.stderr
    assert says in done.stderr and done.stdout == ""
    assert not state.exists(), f"written before the refusal: {sorted(p.name for p in state.rglob('*'))}"


@pytest.mark.parametrize(("args", "starts", "says"), [
    (["run", "--users", "abc"], "gameday run: --users: ", "valid integer"),
    (["chaos", "run", "--no-such-flag"], "gameday chaos run: ", "No such option: --no-such-flag"),
    (["compare", "a"], "gameday compare: ", "Missing argument 'run_b'"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_a_flag_typer_cannot_parse_is_one_line_and_exit_2(tmp_path: Path, args: list[str], starts: str,
                                                          says: str) -> None:
    """Click's own parse errors (a type, an unknown option, a missing argument), in every command: one line
    naming the command, not the boxed usage text; ``--help`` and a bare group still print their help."""
    state = tmp_path / "state"
    done = _gameday(state, *args)
    assert (done.returncode, done.stdout) == (2, ""), done.stdout + done.stderr
    assert done.stderr.startswith(starts) and done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert not state.exists()


def test_help_is_still_the_full_help(tmp_path: Path) -> None:
    shown = _gameday(tmp_path / "state", "run", "--help")
    assert shown.returncode == 0 and "--users" in shown.stdout and shown.stdout.count("\n") > 10, shown
    bare = _gameday(tmp_path / "state", "chaos")
    assert bare.returncode == 2 and "validate" in bare.stdout and bare.stderr == "", bare


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.5, 61])
def test_a_value_that_is_no_number_or_out_of_bounds_is_refused(value: float) -> None:
    with pytest.raises(UsageError, match=r"^--wait must be 0-60 s, got "):
        within("--wait", value, 0, 60, "s")
    within("--wait", 60, 0, 60, "s")  # the bounds themselves are allowed


def _mapped(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # it has already ended: the assertion on its output says how
        return True


@pytest.mark.skipif(not GAMEDAY.exists() or not Path("/proc/self/maps").exists(),
                    reason="needs the installed console script and /proc")
@pytest.mark.parametrize("library", ["pydantic_core", "yaml/_yaml", "_asyncio", "sqlalchemy"])
def test_ctrl_c_while_the_cli_is_starting_is_one_line_and_exit_130(tmp_path: Path, library: str) -> None:
    """SIGINT at successive moments of the start-up (once each library is loaded, i.e. while the CLI's modules
    are still being imported, before its own handlers exist): never a traceback. (The interpreter's first ~10 ms,
    before any of gameday runs, are Python's own: a SIGINT there is reported by Python, not by gameday.)"""
    proc = subprocess.Popen([str(GAMEDAY), "ledger"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "GAMEDAY_STATE_DIR": str(tmp_path / "state")})
    try:
        wait_for(lambda: _mapped(proc.pid, library), timeout=30, interval=0.001, what=f"{library} loaded")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert re.fullmatch(r"gameday: interrupted[^\n]*\n", err), err
