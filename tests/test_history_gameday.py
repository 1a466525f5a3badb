"""End to end (slow): game days fill the history, ``gameday compare`` shows their differences, and a recovery
made slower on purpose fails ``gameday run --fail-on-regression`` while an unchanged run passes.

The history is seeded with 5 measured healthy all-pods-down game days (``tests/data/history/measured``:
real report.json files of this machine, without their trends, run with ``RUN_OPTIONS``: recovery 9.0-9.2 s), so
that only two game days run here (~70 s). The live runs use the same options as the seeds, or their figures would
not be comparable. The slowdown is configuration: a copy of the experiment whose resolution (``rollout-restart``)
waits ``SLOWDOWN_S`` before it acts, like an on-call engineer who takes that much longer. The recovery threshold is
the median + 50% (~14 s); slowed, recovery takes ~21 s.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gameday.history.gate import EXIT_REGRESSION

REPO = Path(__file__).resolve().parents[1]
MEASURED = sorted((REPO / "tests" / "data" / "history" / "measured").glob("*/report.json"))
SLOWDOWN_S = 12
# what the seeds were measured with: resolve without waiting for the page, short baseline and verification windows
RUN_OPTIONS = ("--no-live", "--no-alert-wait", "--baseline", "4", "--verify-window", "4")


def _gameday(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def _last_status(tmp_path: Path) -> str:
    return json.loads(sorted((tmp_path / "reports").glob("*/report.json"))[-1].read_text())["status"]


def slowed_experiment(tmp_path: Path) -> Path:
    """all-pods-down, its resolution paused ``SLOWDOWN_S`` (chaostoolkit's ``pauses.before``): same name."""
    experiment = json.loads((REPO / "experiments" / "service-outage" / "all-pods-down.json").read_text())
    resolution = next(a for a in experiment["method"] if a["name"] == "rollout-restart")
    resolution["pauses"] = {"before": SLOWDOWN_S}
    path = tmp_path / "slow" / "all-pods-down.json"
    path.parent.mkdir()
    path.write_text(json.dumps(experiment))
    return path


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_slowed_recovery_fails_the_gate_and_an_unchanged_run_passes(healthy, settings, tmp_path):
    assert len(MEASURED) >= 5, "the measured history is missing"
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(settings.state_dir),
           "GAMEDAY_HISTORY__URL": f"sqlite:///{tmp_path / 'history.db'}"}
    seeded = _gameday("runs", "import", *map(str, MEASURED), env=env)
    assert seeded.returncode == 0 and f"imported {len(MEASURED)} run(s)" in seeded.stdout, seeded.stderr

    run = ("run", *RUN_OPTIONS, "--fail-on-regression", "--reports-dir", str(tmp_path / "reports"))
    unchanged = _gameday(*run, "all-pods-down", env=env, timeout=300)
    assert re.search(r"regression gate: 0 regression\(s\) in [1-3] figure\(s\) judged", unchanged.stdout), \
        unchanged.stdout[-3000:]
    # exit 0; 1 only when the game day itself failed (its verdict, not the gate's: the gate never turns 0 into 1)
    assert unchanged.returncode == (0 if _last_status(tmp_path) == "passed" else 1), unchanged.stderr[-1500:]

    slowed = _gameday(*run, str(slowed_experiment(tmp_path)), env=env, timeout=300)
    regression = [line for line in slowed.stdout.splitlines() if "all-pods-down: recover" in line]
    assert regression, slowed.stdout[-3000:] + slowed.stderr[-1500:]
    for part in ("REGRESSION", "baseline median", "threshold"):
        assert part in regression[0]
    # exit 4 names the regression; a game day that failed besides keeps its own exit code 1
    assert slowed.returncode == (EXIT_REGRESSION if _last_status(tmp_path) == "passed" else 1)

    runs = json.loads(_gameday("runs", "--json", env=env).stdout)
    assert len(runs) == len(MEASURED) + 2 and all(r["kind"] == "run" for r in runs)
    assert runs[-1]["score"] is not None and runs[-1]["service_version"]
    compared = _gameday("compare", runs[-2]["id"], runs[-1]["id"], "--json", env=env)
    recover = next(d for d in json.loads(compared.stdout)["differences"] if d["phase"] == "recover")
    assert recover["delta"] > SLOWDOWN_S / 2 and recover["judgement"] == "beyond noise"
    report = json.loads(sorted((tmp_path / "reports").glob("*/report.json"))[-1].read_text())
    assert len(report["trends"]["runs"]) == len(MEASURED) + 2
