"""The runbook's canary scenarios: the shipped file, the profile's releases they name, and how a decision is judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.canary.analysis import Decision, StepVerdict
from gameday.canary.run import CanaryReport, Step
from gameday.canary.scenarios import Expect, judge, load, version_of
from gameday.errors import UsageError
from gameday.profile import load as load_profile
from gameday.runbook.package import find

ROOT = Path(__file__).resolve().parent.parent


def report(outcome: str, checks: dict[str, str], steps: int = 1, served: tuple[str, ...] = ("replica-0",)
           ) -> CanaryReport:
    verdict = StepVerdict(Decision.ROLLBACK if outcome == "rolled back" else Decision.PROMOTE, ("why",), {}, {},
                          checks=checks)
    out = CanaryReport("local", "1.5.0-x", {"revision": 1, "version": "1.4.2"}, outcome=outcome,
                       served_new=list(served))
    out.steps = [Step(i + 1, 3, 0.0, verdict=verdict) for i in range(steps)]
    return out


def test_the_shipped_scenarios_name_releases_every_reference_profile_has() -> None:
    scenarios = load(find("service-outage").folder)
    assert {s.release for s in scenarios} == {"bad", "slow", "good"}
    for name in ("ecommerce-backend", "ticket-office"):
        profile = load_profile(ROOT / "profiles" / f"{name}.yaml")
        for s in scenarios:
            assert version_of(s.release, profile), (name, s.name)


def test_judge_wants_the_right_outcome_step_check_and_reach() -> None:
    bad = Expect(outcome="rolled back", at_step=1, by="errors", max_served=1)
    assert judge(bad, report("rolled back", {"errors": "worse", "latency": "unknown"})) == []
    assert judge(bad, report("promoted", {"errors": "ok", "latency": "ok"}))  # wrong outcome
    assert judge(bad, report("rolled back", {"errors": "worse", "latency": "ok"}, steps=2))  # too late
    assert judge(bad, report("rolled back", {"errors": "ok", "latency": "worse"}))  # by the wrong check
    assert judge(bad, report("rolled back", {"errors": "worse", "latency": "ok"}, served=("a", "b")))  # too far
    slow = Expect(outcome="rolled back", by="latency")
    assert judge(slow, report("rolled back", {"errors": "worse", "latency": "worse"}))  # errors must not be it
    assert judge(Expect(outcome="promoted"), report("promoted", {"errors": "ok", "latency": "ok"})) == []
    # a canary replica that never got ready (a crash loop) failed by its errors, not by its latency
    crashed = report("rolled back", {})
    crashed.steps[-1].verdict, crashed.steps[-1].error = None, "canary pod x: CrashLoopBackOff"
    assert judge(bad, crashed) == []
    assert judge(slow, crashed)


def test_a_malformed_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "canaries.yaml").write_text("scenarios:\n  - {name: x, release: medium, expect: {outcome: promoted}}\n")
    with pytest.raises(UsageError, match=r"canaries\.yaml"):
        load(tmp_path)
    with pytest.raises(UsageError, match="cannot read"):
        load(tmp_path / "missing")
