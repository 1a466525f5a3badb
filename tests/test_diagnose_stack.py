"""End to end on the local stack: every fault of the catalogue gets its verdict; a hang costs < 10 s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gameday import faults
from gameday.diagnose import diagnose, load_runbook
from gameday.ledger import Ledger

pytestmark = pytest.mark.slow

RUNBOOK = load_runbook()
ROOT = Path(__file__).resolve().parents[1]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until ``condition`` holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)  # poll


def impacted(target) -> bool:
    """What the game day's detection sees first: a replica that is not ready."""
    return not all(r.ready for r in target.replicas())


def test_a_healthy_stack_has_no_outage(healthy):
    result = diagnose(healthy, healthy.settings.service, RUNBOOK)
    assert result.verdict.key == "no-outage", result.verdict.summary
    assert [c.ok for c in result.evidence.dependencies] == [True, True, True]
    assert len(result.evidence.replicas) == 3
    assert result.evidence.duration_s < 10
    print(f"diagnose on a healthy stack: {result.evidence.duration_s:.2f}s")


# (fault, params, wait for the outage to be detectable before diagnosing)
CATALOGUE = [
    ("kill-replicas", {"rounds": 2, "interval": 0.2}, False),
    ("bad-release", {}, True),
    ("bad-config", {}, True),
    ("freeze-replicas", {}, False),
    ("stop-dependency", {"dependency": "postgres"}, False),
    ("stop-dependency", {"dependency": "redis"}, False),
    ("stop-dependency", {"dependency": "kafka"}, False),
]


@pytest.mark.parametrize(("fault", "params", "wait"), CATALOGUE, ids=[f"{f}-{p.get('dependency', '')}".rstrip("-")
                                                                      for f, p, _ in CATALOGUE])
def test_each_fault_gets_its_verdict(healthy, fault, params, wait):
    ledger = Ledger(Path(healthy.state.ledger))
    entry = faults.inject(healthy, ledger, fault, params)
    try:
        if wait:
            wait_for(lambda: impacted(healthy), 30, f"{fault} to take the service down")
        profile = healthy.settings.service
        result = diagnose(healthy, profile, RUNBOOK)
        chosen = faults.get_fault(fault)
        expected = chosen.expected_verdict(chosen.validate(params, profile), profile)
        # scored: a kill-replicas outage over before the diagnosis ran still counts as all replicas down
        assert result.verdict.scored == expected, f"{result.verdict.summary}\n" + "\n".join(result.verdict.evidence)
        assert result.evidence.duration_s < 10
        if expected == "failed-deployment":
            assert result.resolution.commands == ["gameday rollout undo"]
        assert [e.id for e in ledger.entries()] == [entry.id]
    finally:
        faults.undo(healthy, ledger, entry)


def test_diagnose_under_a_hanging_postgres_finishes_in_under_10_seconds(healthy):
    ledger = Ledger(Path(healthy.state.ledger))
    entry = faults.inject(healthy, ledger, "hang-dependency", {"dependency": "postgres"})
    try:
        script = ("import typer; from gameday.diagnose.cli import register; app = typer.Typer(); register(app);\n"
                  "@app.callback()\ndef _g() -> None: pass\napp()")
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-c", script, "diagnose", "--json"], capture_output=True, text=True,
                             timeout=30, cwd=ROOT, env={**os.environ, "GAMEDAY_STATE_DIR": str(healthy.state.root)})
        elapsed = time.monotonic() - started
        assert run.returncode == 0, run.stderr
        data = json.loads(run.stdout)
        print(f"diagnose with postgres hanging: {elapsed:.2f}s end to end, {data['duration_s']:.2f}s collecting")
        assert elapsed < 10
        assert data["verdict"]["key"] == "dependency-hang:postgres"  # its check timed out: a hang, not a refusal
        postgres = next(c for c in data["evidence"]["dependencies"] if c["name"] == "postgres")
        assert not postgres["ok"]
    finally:
        faults.undo(healthy, ledger, entry)
