"""The regression gate and the comparison of two runs: pure decisions, tested at their edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.history.compare import compare
from gameday.history.gate import MAD_TO_SIGMA, Policy, baseline, judge, noise, threshold
from gameday.history.records import ExperimentRecord, RunRecord

POLICY = Policy(k=3.0, relative=0.25, absolute_s=2.0, min_runs=5, window=30)
STEADY = [16.8, 19.7, 17.2, 18.1, 17.5]  # all-pods-down recover times measured on this machine


def test_fewer_than_min_runs_is_not_enough_history_and_never_fails():
    result = judge({"all-pods-down": {"recover": 500.0}}, {"all-pods-down": {"recover": STEADY[:4]}}, POLICY)
    assert result.regressions == [] and len(result.not_enough_history) == 1
    assert "not enough history" in result.findings[0].line()


def test_baseline_is_median_and_mad_of_the_last_window_runs():
    b = baseline([100.0] * 10 + STEADY, Policy(k=3.0, relative=0.25, absolute_s=2.0, min_runs=5, window=5))
    assert b is not None and b.runs == 5 and b.median == 17.5
    assert b.mad == pytest.approx(0.6)  # deviations 0.7, 2.2, 0.3, 0.6, 0 -> median 0.6


def test_threshold_is_the_largest_of_the_mad_band_and_the_floors():
    wide = baseline([10.0, 14.0, 18.0, 22.0, 26.0], POLICY)  # MAD 4: 3 x 1.4826 x 4 = 17.8 s
    assert wide is not None and threshold(wide, POLICY) == pytest.approx(18 + 3 * MAD_TO_SIGMA * 4)
    flat = baseline([20.0] * 5, POLICY)  # MAD 0: the relative floor (25% of 20 s = 5 s)
    assert flat is not None and threshold(flat, POLICY) == pytest.approx(25.0)
    tiny = baseline([0.3] * 5, POLICY)  # detection in 0.3 s: the absolute floor (2 s)
    assert tiny is not None and noise(tiny, POLICY) == 2.0


def test_just_over_the_threshold_regresses_just_at_it_does_not():
    history = {"all-pods-down": {"recover": [20.0] * 5}}
    at = judge({"all-pods-down": {"recover": 25.0}}, history, POLICY)
    over = judge({"all-pods-down": {"recover": 25.01}}, history, POLICY)
    assert at.regressions == [] and len(over.regressions) == 1
    line = over.regressions[0].line()
    for part in ("all-pods-down", "recover", "REGRESSION", "baseline median 20.00 s", "threshold 25.00 s"):
        assert part in line


def test_faster_is_never_a_regression_and_figures_not_reached_are_not_judged():
    history = {"x": {"detect": [1.0] * 5, "recover": [20.0] * 5, "verify": [30.0] * 5}}
    result = judge({"x": {"detect": 0.1, "recover": None, "verify": 10.0}}, history, POLICY)
    assert [f.figure for f in result.findings] == ["detect", "verify"] and result.regressions == []


def test_an_experiment_with_no_history_at_all_is_not_enough_history():
    result = judge({"new-experiment": {"detect": 1.0}}, {}, POLICY)
    assert result.not_enough_history and not result.regressions


def _run(run_id: str, **phases: float | None) -> RunRecord:
    exp = ExperimentRecord(name="all-pods-down", verdict="passed", phases=dict(phases))
    return RunRecord(id=run_id, kind="run", target="local", profile="p", started_at=0.0, status="passed",
                     experiments=[exp])


def test_compare_says_noise_unknown_without_enough_history_and_judges_with_it():
    a, b = _run("a", detect=0.3, recover=17.0), _run("b", detect=0.35, recover=30.0)
    unknown = {(d.phase): d for d in compare(a, b, {}, POLICY)}
    assert unknown["recover"].delta == 13.0 and unknown["recover"].judgement == "noise unknown"
    known = {d.phase: d for d in compare(a, b, {"all-pods-down": {"recover": STEADY, "detect": [0.3] * 5}}, POLICY)}
    assert known["recover"].judgement == "beyond noise"  # 13 s > max(3 x 1.48 x 0.6, 25% x 17.5, 2) = 4.4 s
    assert known["detect"].judgement == "within noise"
    assert set(known) == {"detect", "recover"}  # phases neither run has are left out


def test_compare_lists_an_experiment_only_one_run_had():
    a = _run("a", recover=17.0)
    b = RunRecord(id="b", kind="run", target="local", profile="p", started_at=1.0, status="passed",
                  experiments=[ExperimentRecord(name="kafka-down", verdict="passed", phases={"verify": 20.0})])
    judged = {(d.experiment, d.phase): d.judgement for d in compare(a, b, {}, POLICY)}
    assert judged == {("all-pods-down", "recover"): "not in both runs", ("kafka-down", "verify"): "not in both runs"}


def test_the_policy_comes_from_the_settings_and_never_judges_on_fewer_than_5_runs():
    from pydantic import ValidationError

    from gameday.config import HistorySettings

    policy = Policy.from_settings(HistorySettings(regression_relative=0.3, regression_min_runs=8))
    assert policy.relative == 0.3 and policy.min_runs == 8
    with pytest.raises(ValidationError):
        HistorySettings(regression_min_runs=4)


def test_the_time_to_verify_has_its_own_relative_floor():
    policy = Policy(k=3.0, relative=0.5, absolute_s=2.0, min_runs=5, window=30, relative_verify=1.25)
    history = {"x": {"recover": [20.0] * 5, "verify": [44.0] * 5}}
    result = judge({"x": {"recover": 31.0, "verify": 98.0}}, history, policy)
    assert [f.figure for f in result.regressions] == ["recover"]  # 31 > 30; 98 < 44 x 2.25 = 99
    assert judge({"x": {"verify": 99.5}}, history, policy).regressions[0].threshold == pytest.approx(99.0)


def test_too_little_history_is_said_as_not_judged_n_of_5_runs_grouped_by_how_much_there_was():
    current = {"all-pods-down": {"detect": 1.0, "recover": 20.0}, "redis-down": {"recover": 3.0}}
    result = judge(current, {"all-pods-down": {"detect": STEADY[:2], "recover": STEADY[:2]}}, POLICY)
    assert result.not_judged(5) == ("not judged: 0 of 5 runs (redis-down recover); "
                                    "2 of 5 runs (all-pods-down detect, all-pods-down recover)")
    assert judge({"x": {"recover": 17.0}}, {"x": {"recover": STEADY}}, POLICY).not_judged(5) is None


def test_the_gate_says_not_judged_in_its_console_line_and_the_report_shows_it(tmp_path):
    import json

    from gameday.config import Settings
    from gameday.history.records import read_report
    from gameday.history.remember import regression_gate, remember_game_day
    from gameday.report.writer import write_report
    from gameday.result import GameDayReport, RegressionGate

    settings = Settings(state_dir=tmp_path)
    data = read_report(Path(__file__).parent / "data" / "history" / "report-all-pods-down.json")
    for i in range(2):  # two passed runs of history: not enough to judge
        past = GameDayReport.of(json.loads(json.dumps(data)))
        past.started_at = data["started_at"] - 3600 * (2 - i)
        remember_game_day(past, settings, warn=pytest.fail)
    report = GameDayReport.of(data)
    remember_game_day(report, settings, warn=pytest.fail)
    said: list[str] = []
    assert regression_gate(report, settings, 0, said.append) == 0  # passes, but says it could not judge
    (line,) = said
    assert line.startswith("regression gate: 0 regression(s) in 0 figure(s) judged; not judged: 2 of 5 runs (")
    report.regression_gate = RegressionGate(lines=said, exit_code=0)
    out = write_report(report, [], tmp_path / "r")
    summary = (out / "summary.md").read_text()
    assert "not judged: 2 of 5 runs" in summary.splitlines()[0]  # the headline, beside the verdict
    assert "**Regression gate:**" in summary and "not judged: 2 of 5 runs" in (out / "index.html").read_text()
