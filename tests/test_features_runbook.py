"""The Verification features (English and zh-TW) run against the shared stack AS FOUND go red, with the failing
items named, when a dependency is stopped, when every replica is killed, when a replica hangs. (Green on a
healthy stack is the plain run of steps/test_verification.py, which every ``make test`` does.)

Each run is pytest-bdd in a subprocess (``TARGET=local`` + the stack's state directory), writing the JUnit XML
and Cucumber JSON that the assertions read: the failing scenarios are found by their runbook tags.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gameday.calls import Client
from gameday.ledger import Ledger
from gameday.profile import load as load_profile
from gameday.targets.base import Target
from gameday.verify.faulting import injected, kill_loop_params
from steps.support import wait_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FEATURE_URIS = {"service-outage/verification.feature", "service-outage/verification.zh-TW.feature"}  # pytest-bdd's uris
ALL_ITEMS = {"pods-running", "health-checks", "api-endpoints", "smoke-tests", "error-rate", "response-time"}
OUTAGE_ITEMS = {"pods-running", "health-checks", "api-endpoints", "smoke-tests", "error-rate"}


def run_verification(state_dir: Path, out: Path) -> dict[str, dict[str, str]]:
    """Run the verification features as found; {item: {feature uri: passed|failed}} and the messages."""
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(state_dir), "TARGET": "local"}
    env.pop("GAMEDAY_TARGET", None)
    cucumber, junit = out / "cucumber.json", out / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "steps/test_verification.py", "-q", "-p", "no:cacheprovider",
         f"--cucumberjson={cucumber}", f"--junitxml={junit}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    assert junit.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    outcome: dict[str, dict[str, str]] = {}
    for feature in json.loads(cucumber.read_text()):
        for scenario in feature["elements"]:
            tags = [t["name"] for t in scenario["tags"] if t["name"].startswith("runbook:verification:")]
            assert len(tags) == 1, f"scenario {scenario['name']!r} must carry one runbook tag"
            item = tags[0].rsplit(":", 1)[1]
            failed = [s for s in scenario["steps"] if s["result"]["status"] == "failed"]
            if failed:
                message = failed[0]["result"].get("error_message", "")
                assert f"[{item}]" in message, f"the failure of {item} does not name it: {message[:300]}"
            outcome.setdefault(item, {})[feature["uri"]] = "failed" if failed else "passed"
    return outcome


def failing(outcome: dict[str, dict[str, str]]) -> set[str]:
    """Items failed in BOTH languages (the zh-TW feature binds the same steps)."""
    for item, by_feature in outcome.items():
        assert set(by_feature) == FEATURE_URIS, f"{item}: missing from a feature: {by_feature}"
        assert len(set(by_feature.values())) == 1, f"{item}: English and zh-TW disagree: {by_feature}"
    return {item for item, by_feature in outcome.items() if "failed" in by_feature.values()}


def _readyz_fails(target: Target) -> None:
    with Client(target.base_url(), 3.0) as client:
        call = wait_for(lambda: client.get(load_profile().service.readiness_path), lambda c: not c.ok, timeout=20)
    assert not call.ok, "readiness never failed with PostgreSQL stopped"


def _no_ready_backend(target: Target) -> None:
    lb = wait_for(target.load_balancer, lambda lb: lb.ready_backends == 0, timeout=10)
    assert lb.ready_backends == 0


def _frozen_replica(target: Target) -> None:
    name = target.replicas()[0].name
    # hung, as supervisor and a kubelet see it: Running, its readiness probe timing out
    replicas = wait_for(target.replicas, lambda rs: any(r.name == name and r.probe == "timeout" for r in rs), 5)
    assert any(r.name == name and r.phase == "Running" and not r.ready for r in replicas)


# (fault, params, background, wait until the fault shows, items that must fail)
CASES: dict[str, tuple[str, dict, bool, Callable[[Target], None], set[str]]] = {
    "dependency-stopped": ("stop-dependency", {"dependency": "postgres"}, False, _readyz_fails, OUTAGE_ITEMS),
    "every-replica-killed": ("kill-replicas", kill_loop_params(11), True, _no_ready_backend, OUTAGE_ITEMS),
    "one-replica-hangs": ("freeze-replicas", {"replicas": "FIRST"}, False, _frozen_replica,
                          {"pods-running", "health-checks"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_verification_features_name_the_failing_items(healthy, tmp_path: Path, case: str) -> None:
    fault, params, background, shows, expected = CASES[case]
    if params.get("replicas") == "FIRST":
        params = {"replicas": [healthy.replicas()[0].name]}
    ledger = Ledger(Path(healthy.state.ledger))
    with injected(healthy, ledger, fault, params, background=background):
        shows(healthy)
        outcome = run_verification(Path(healthy.state.root), tmp_path)
    assert set(outcome) == ALL_ITEMS
    failed = failing(outcome)
    assert expected <= failed, f"{case}: expected {sorted(expected)} to fail, failed: {sorted(failed)}"
    assert (tmp_path / "junit.xml").read_text().count("<testcase") == 12
