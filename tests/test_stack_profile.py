"""Commands that judge the running local stack refuse a profile other than the one it runs (issue 25, item 7).

A copy of the reference profile (same service name, another file: endpoints or SLOs being edited) used to pass
``smoke``, ``diagnose`` and ``profile check`` silently, judging the stack by what it does not run; another service's
profile was refused with exit 1. Either is bad input: one line naming both profiles, exit 2, nothing started. Undoing
a fault (``abort``) is about the stack, not the profile: it still works whatever profile is named.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gameday.ledger import Ledger
from gameday.targets.local.stack import load_stack
from tests.local_profiles import ecommerce, ticket_office

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _gameday(args: list[str], state_dir: Path, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GAMEDAY_PROFILE", "TARGET", "GAMEDAY_TARGET")}
    env["GAMEDAY_STATE_DIR"] = str(state_dir)
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _copy(folder: Path) -> Path:
    """The stack's own service, described by another file with one SLO changed."""
    def edit(data: dict[str, Any]) -> None:
        data.setdefault("slo", {})["p95_ms"] = 400.0

    return ecommerce(folder, edit)


@pytest.mark.parametrize("command", [["smoke"], ["diagnose"], ["profile", "check"], ["run", "all-pods-down"]])
def test_a_command_given_another_profile_than_the_stacks_refuses_naming_both(healthy: Any, tmp_path: Path,
                                                                            command: list[str]) -> None:
    other = _copy(tmp_path)
    running = load_stack(healthy.state)["profile"]
    res = _gameday(["--profile", str(other), *command], healthy.state.root, tmp_path)
    assert res.returncode == 2, (res.stdout[-2000:], res.stderr)
    line = res.stderr.strip()
    assert line.count("\n") == 0 and "Traceback" not in line, line
    assert running in line and str(other) in line, line
    assert not res.stdout.strip(), res.stdout
    assert not (tmp_path / "reports").exists()  # nothing started: no game day report
    assert Ledger(healthy.state.ledger).empty()


def test_another_services_profile_is_refused_with_exit_2(healthy: Any, tmp_path: Path) -> None:
    other = ticket_office(tmp_path)
    res = _gameday(["--profile", str(other), "smoke"], healthy.state.root, tmp_path)
    assert res.returncode == 2, res.stderr
    assert load_stack(healthy.state)["profile"] in res.stderr and str(other) in res.stderr


def test_the_stacks_own_profile_named_by_path_is_accepted(healthy: Any, tmp_path: Path) -> None:
    own = load_stack(healthy.state)["profile"]
    res = _gameday(["--profile", os.path.relpath(own, tmp_path), "status", "--json"], healthy.state.root, tmp_path)
    assert res.returncode == 0, res.stderr


def test_abort_undoes_a_fault_whatever_profile_is_named(healthy: Any, tmp_path: Path) -> None:
    res = _gameday(["inject", "freeze-replicas", "-p", "replicas=replica-0"], healthy.state.root, REPO)
    assert res.returncode == 0, res.stderr
    assert not Ledger(healthy.state.ledger).empty()
    res = _gameday(["--profile", str(_copy(tmp_path)), "abort"], healthy.state.root, tmp_path)
    assert res.returncode == 0, res.stderr
    assert Ledger(healthy.state.ledger).empty()
    assert next(r for r in healthy.replicas() if r.name == "replica-0").phase == "Running"
