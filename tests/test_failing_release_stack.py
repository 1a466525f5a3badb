"""Issue 20 on a real local stack of its own: ``up`` measures each replica's start; a release the launcher makes fail
some seconds after it got ready (``local.bad_release.fail_after_ready_s``, the good release's own command) is a real
crash loop: a canary of it is rolled back at its first step on the canary's restarts, and as the ``bad-release``
fault it is diagnosed a failed deployment from the outside, and undone by ``rollout undo``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gameday import faults
from gameday.canary.run import Plan, run_canary
from gameday.config import LocalSettings, Settings
from gameday.diagnose import diagnose, load_runbook
from gameday.ledger import Ledger
from gameday.state import read_json
from gameday.targets.local import stack as local_stack
from gameday.targets.local import starts
from gameday.targets.local.target import LocalTarget
from tests.helpers import runbook_link, wait_for
from tests.local_profiles import ecommerce

pytestmark = pytest.mark.slow

CRASHING = "1.4.3-crashing"  # not "-broken": the reference service runs it as its good release


def _failing(data: dict[str, Any]) -> None:
    data["local"]["bad_release"] = {"version": CRASHING, "fail_after_ready_s": 2}
    data["local"]["start_seconds"] = 1  # killed 2 s after ready is a crash of a started process: restarted at once


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTarget]:
    state = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="gameday-failing-"))
    state.chmod(0o755)  # PostgreSQL's user must traverse it
    settings = Settings(state_dir=state, profile=ecommerce(tmp_path_factory.mktemp("profile"), _failing),
                        local=LocalSettings(monitoring=False))
    try:
        local_stack.up(settings, timeout=120, runbook=runbook_link(settings.service))
        yield LocalTarget(settings)
    finally:
        local_stack.down(settings)
        shutil.rmtree(state, ignore_errors=True)


def test_up_measures_each_replica_start_and_the_budget_comes_from_it(target: LocalTarget) -> None:
    measured = target.stack[starts.STACK_KEY]
    assert sorted(measured) == target.replica_names
    assert all(0 < seconds < 90 for seconds in measured.values()), measured
    budget = target.start_budget()
    assert budget.measured_s == max(measured.values())
    assert budget.per_replica_s == min(90.0, max(starts.FLOOR_S, starts.SAFETY_FACTOR * budget.measured_s))
    print(f"replica starts measured at up: {measured}; budget {budget.per_replica_s:.1f} s a replica")


def test_a_crash_looping_canary_is_rolled_back_in_its_first_step_on_its_restarts(target: LocalTarget,
                                                                                 tmp_path: Path) -> None:
    before = target.current_revision()
    assert before is not None
    ledger = Ledger(tmp_path / "ledger.json")
    report = run_canary(target, target.profile, ledger, Plan(CRASHING))
    step = report.steps[0]
    print(f"decided in {report.decision_s} s: {report.reason}")
    assert report.outcome == "rolled back", report.to_dict()
    assert len(report.steps) == 1 and report.served_new == ["replica-0"]
    # the crash shows twice from outside: the requests in flight failing (HAProxy's log) and the restart (the
    # platform's record); whichever the step saw first decided it, the other may come a moment later
    assert step.verdict is not None, step.to_dict()
    checks = step.verdict.checks
    assert checks.get("restarts") == "worse" or checks["errors"] == "worse", step.to_dict()
    if "restarts" in checks:
        assert report.reason.startswith("canary restarted ") and ", primary 0" in report.reason
    assert {r.version for r in target.replicas()} == {before.version}
    assert ledger.empty()
    assert target.wait_healthy()


def test_the_launchers_failing_release_is_a_failed_deployment_undone_by_rollout_undo(target: LocalTarget) -> None:
    ledger = Ledger(target.state.ledger)
    entry = faults.inject(target, ledger, "bad-release", {}, profile=target.profile)
    try:
        assert entry.undo == {"version": target.profile.local.release}  # type: ignore[union-attr]
        # seen from outside: replicas of the new revision restart (supervisor's own record), nothing else says why
        wait_for(lambda: any(r.restarts and r.version == CRASHING for r in target.replicas()), 30,
                 what="a replica of the failing release restarted by supervisor")
        result = diagnose(target, target.profile, load_runbook())
        assert result.verdict.scored == "failed-deployment", "\n".join([result.verdict.summary,
                                                                         *result.verdict.evidence])
        assert f"({CRASHING}) was rolled out" in result.verdict.summary
        assert result.resolution.commands == ["gameday rollout undo"]
    finally:
        faults.undo(target, ledger, entry)
    assert ledger.empty()
    assert {r.version for r in target.replicas()} == {target.profile.local.release}  # type: ignore[union-attr]
    assert target.wait_healthy()
    for name in target.replica_names:  # each replica runs the service itself again: no launcher waiting to kill it
        assert "fail_after_ready_s" not in read_json(target.service.spec_path(name), {}) or \
            read_json(target.service.spec_path(name))["fail_after_ready_s"] is None
        pid = target.supervisor.info(name)["pid"]
        assert "launch.py" not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")


def test_a_replica_that_crashed_between_two_looks_is_counted_once(target: LocalTarget) -> None:
    """The canary's restart count, as the platform reports the processes: a SIGKILLed replica restarted by supervisor
    is one crash of its side, whoever sent the signal; the others none."""
    import os
    import signal

    driver = target.canary()
    driver.mark()  # the pids as they are now
    before = int(target.supervisor.info("replica-1")["pid"])
    os.kill(before, signal.SIGKILL)
    wait_for(lambda: int(target.supervisor.info("replica-1").get("pid") or 0) not in (0, before), 30,
             what="replica-1 restarted by supervisor")
    driver._count_crashes()
    assert driver._crashes == {"replica-1": 1}
    driver._count_crashes()  # the same restart seen again is not a second crash
    assert driver._crashes == {"replica-1": 1}
    assert target.wait_healthy()
