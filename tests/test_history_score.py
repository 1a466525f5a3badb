"""The resilience score at its edges (docs/history.md): every part, the severity weights, no data."""

from __future__ import annotations

import pytest

from gameday.history.score import PARTS, SEVERITY, Targets, score_experiment, score_run, timeliness

TARGETS = Targets(detect_target_s=5, detect_limit_s=60, recover_target_s=60, recover_limit_s=300)


def outage(**over):
    exp = {"name": "all-pods-down", "expects_outage": True, "status": "passed", "time_to_detect_s": 0.3,
           "time_to_recover_s": 17.0, "diagnosis": {"correct": True}, "alert": {"as_expected": True}}
    return {**exp, **over}


def test_timeliness_is_full_at_the_target_none_at_the_limit_linear_between():
    assert timeliness(5.0, 5, 60) == 1.0
    assert timeliness(60.0, 5, 60) == 0.0
    assert timeliness(32.5, 5, 60) == 0.5
    assert timeliness(None, 5, 60) == 0.0  # never reached: no points


def test_a_perfect_outage_experiment_scores_full_points():
    s = score_experiment(outage(), TARGETS)
    assert s.points == 1.0 and s.severity == "outage" and s.weight == SEVERITY["outage"]


def test_each_part_costs_its_weight():
    assert score_experiment(outage(status="failed"), TARGETS).points == pytest.approx(1 - PARTS["passed"])
    assert score_experiment(outage(diagnosis={"correct": False}), TARGETS).points == pytest.approx(
        1 - PARTS["diagnosis"])
    assert score_experiment(outage(alert={"as_expected": False}), TARGETS).points == pytest.approx(1 - PARTS["alert"])
    half = score_experiment(outage(time_to_recover_s=180.0), TARGETS)
    assert half.parts["recover"] == 0.5 and half.points == pytest.approx(1 - PARTS["recover"] / 2)
    never = score_experiment(outage(time_to_detect_s=None, time_to_recover_s=None), TARGETS)
    assert never.points == pytest.approx(1 - PARTS["detect"] - PARTS["recover"])


def test_parts_that_could_not_be_measured_are_left_out_not_given():
    s = score_experiment(outage(diagnosis=None, alert=None, status="failed"), TARGETS)
    assert s.parts["diagnosis"] is None and s.parts["alert"] is None
    applicable = PARTS["passed"] + PARTS["detect"] + PARTS["recover"]
    assert s.points == pytest.approx((PARTS["detect"] + PARTS["recover"]) / applicable, abs=1e-4)


def test_a_degraded_experiment_earns_detect_and_recover_only_when_no_outage_was_seen():
    calm = {"name": "redis-down", "expects_outage": False, "status": "passed", "time_to_detect_s": None,
            "alert": {"as_expected": True}}
    assert score_experiment(calm, TARGETS).points == 1.0
    outage_seen = {**calm, "status": "failed", "time_to_detect_s": 0.4}
    s = score_experiment(outage_seen, TARGETS)
    assert s.parts["detect"] == 0.0 and s.parts["recover"] == 0.0 and s.severity == "degraded"


def test_the_run_score_weights_a_full_outage_over_a_degraded_dependency():
    degraded = {"name": "kafka-down", "expects_outage": False, "status": "passed", "alert": {"as_expected": True}}
    outage_failed = score_run([outage(status="failed"), degraded], TARGETS).score
    degraded_failed = score_run([outage(), {**degraded, "status": "failed"}], TARGETS).score
    assert outage_failed == pytest.approx(100 * (3 * 0.6 + 1 * 1.0) / 4)  # 70: the same failure costs
    # 88.2: a third of the cost when degraded (no diagnosis taken there: 0.45 of 0.85 applicable)
    assert degraded_failed == pytest.approx(100 * (3 * 1.0 + 1 * 0.45 / 0.85) / 4, abs=0.05)


def test_no_experiments_is_no_score_not_a_perfect_one():
    assert score_run([], TARGETS).score is None
    assert score_run([outage()], TARGETS).to_dict()["score"] == 100.0
