"""Verdicts and detection conditions at their edges: pure functions, no stack."""

from __future__ import annotations

import math

import pytest

from gameday.load.timeline import Second, Timeline
from gameday.verify.detection import Probe, api_endpoint_down, match_log_patterns
from gameday.verify.verdicts import (
    Status,
    Verdict,
    error_rate_verdict,
    overall,
    required_requests,
    response_time_verdict,
    wilson_interval,
    wilson_upper,
    window_needed,
    z_value,
)


# --- Wilson bound and the sample it needs --------------------------------------------------------
def test_wilson_upper_with_zero_failures_is_z2_over_n_plus_z2() -> None:
    z = z_value(0.95)
    assert z == pytest.approx(1.959964, abs=1e-6)
    for n in (1, 10, 381, 10_000):
        assert wilson_upper(0, n) == pytest.approx(z * z / (n + z * z))


def test_wilson_interval_contains_the_rate_and_narrows_with_n() -> None:
    lo, hi = wilson_interval(5, 100)
    assert lo < 0.05 < hi
    lo2, hi2 = wilson_interval(50, 1000)
    assert hi2 - lo2 < hi - lo


def test_required_requests_at_zero_failures_matches_the_closed_form() -> None:
    z = z_value(0.95)
    closed = math.floor(z * z * (1 - 0.01) / 0.01) + 1  # smallest n with z²/(n+z²) < 1%
    assert required_requests(0.01, 0.95) == closed == 381
    assert wilson_upper(0, 381) < 0.01 <= wilson_upper(0, 380)


def test_required_requests_grows_with_the_observed_rate_and_never_at_the_threshold() -> None:
    at_zero = required_requests(0.01, 0.95, 0.0)
    at_half = required_requests(0.01, 0.95, 0.005)
    assert at_zero is not None and at_half is not None and at_half > at_zero
    assert wilson_upper(0.005 * at_half, at_half) < 0.01
    assert required_requests(0.01, 0.95, 0.01) is None
    assert required_requests(0.01, 0.95, 0.5) is None
    assert required_requests(0.01, 0.99, 0.0) > at_zero  # more confidence, more requests


def test_window_needed_is_the_sample_at_the_measured_rate() -> None:
    assert window_needed(100.0) == pytest.approx(3.81)
    assert window_needed(0.0) is None
    assert window_needed(100.0, observed_rate=0.02) is None


# --- error rate < 1% -----------------------------------------------------------------------------
def test_zero_requests_is_inconclusive_not_pass() -> None:
    v = error_rate_verdict(0, 0)
    assert v.status is Status.INCONCLUSIVE and not v.passed
    assert "381" in v.explanation
    assert v.measured["requests"] == 0 and v.measured["upper_bound"] is None


def test_too_few_requests_without_failures_is_inconclusive_and_says_how_long() -> None:
    v = error_rate_verdict(100, 0, duration_s=2.0)
    assert v.status is Status.INCONCLUSIVE
    assert v.measured["upper_bound"] == pytest.approx(wilson_upper(0, 100))
    assert v.measured["requests_needed"] == 381
    assert "~8 s at 50 req/s" in v.explanation


def test_enough_requests_without_failures_passes_with_the_bound_printed() -> None:
    v = error_rate_verdict(381, 0)
    assert v.status is Status.PASS and v.passed
    assert v.measured["upper_bound"] < 0.01
    assert "0/381 failed = 0.00%" in v.explanation and "95% upper bound 0.998%" in v.explanation
    assert error_rate_verdict(380, 0).status is Status.INCONCLUSIVE


def test_exactly_one_percent_on_a_full_sample_fails() -> None:
    v = error_rate_verdict(1000, 10)
    assert v.measured["error_rate"] == pytest.approx(0.01)
    assert v.status is Status.FAIL
    assert "not below 1%" in v.explanation


def test_exactly_one_percent_on_a_small_sample_is_inconclusive() -> None:
    v = error_rate_verdict(100, 1)
    assert v.status is Status.INCONCLUSIVE
    assert "only more requests could tell" in v.explanation


def test_below_one_percent_but_not_confidently_is_inconclusive_with_the_sample_needed() -> None:
    v = error_rate_verdict(1000, 5)  # 0.5%, upper bound ~1.16%
    assert v.status is Status.INCONCLUSIVE
    assert v.measured["requests_needed"] == required_requests(0.01, 0.95, 0.005)
    assert error_rate_verdict(10_000, 50).status is Status.PASS  # same rate, enough requests


def test_confidently_above_fails_even_on_few_requests() -> None:
    v = error_rate_verdict(10, 10)  # zero successful requests
    assert v.status is Status.FAIL
    assert v.measured["lower_bound"] > 0.01


def test_bad_counts_are_rejected() -> None:
    with pytest.raises(ValueError):
        error_rate_verdict(10, 11)
    with pytest.raises(ValueError):
        error_rate_verdict(-1, 0)


# --- response time normal ------------------------------------------------------------------------
def test_response_time_within_slo_and_baseline_passes_with_both_numbers() -> None:
    v = response_time_verdict(30.0, 500, slo_ms=500, baseline_p95_ms=20.0, tolerance=2.0, slack_ms=50.0,
                              baseline_samples=500)
    assert v.passed
    assert v.measured["baseline_limit_ms"] == 90.0
    assert "SLO 500 ms" in v.explanation and "= 90 ms" in v.explanation


def test_response_time_within_slo_but_above_baseline_fails() -> None:
    v = response_time_verdict(120.0, 500, slo_ms=500, baseline_p95_ms=20.0, baseline_samples=500)
    assert v.status is Status.FAIL
    assert "within SLO 500 ms but above baseline" in v.explanation


def test_response_time_above_slo_fails() -> None:
    v = response_time_verdict(2000.0, 500, slo_ms=500, baseline_p95_ms=20.0, baseline_samples=500)
    assert v.status is Status.FAIL and "above SLO 500 ms" in v.explanation


def test_a_latency_spike_in_the_baseline_cannot_loosen_the_verdict() -> None:
    # the baseline was measured during a spike: its p95 is above the SLO, so its limit is too
    v = response_time_verdict(900.0, 500, slo_ms=500, baseline_p95_ms=800.0, baseline_samples=500)
    assert v.measured["baseline_limit_ms"] == 1650.0
    assert v.status is Status.FAIL
    assert "the baseline itself is above the SLO" in v.explanation


def test_a_short_spike_does_not_move_the_baseline_p95() -> None:
    # 500 fast requests and a 3-second stall of 5 requests: the window's p95 stays with the fast ones
    seconds = [Second(t=100 + i, requests=100, hist={5: 99, 8: 1}) for i in range(5)]
    seconds.append(Second(t=105, requests=5, hist={3000: 5}))
    baseline = Timeline(seconds)
    assert baseline.p95 == 5.0 and baseline.p99 == 8.0 and max(baseline.hist()) == 3000
    v = response_time_verdict(12.0, 400, slo_ms=500, baseline_p95_ms=baseline.p95, baseline_samples=baseline.requests)
    assert v.passed and v.measured["baseline_limit_ms"] == 60.0


def test_response_time_without_baseline_judges_the_slo_only_and_says_so() -> None:
    v = response_time_verdict(30.0, 100, slo_ms=500)
    assert v.passed and "no baseline measured before any fault" in v.explanation
    small = response_time_verdict(30.0, 100, slo_ms=500, baseline_p95_ms=1.0, baseline_samples=3)
    assert small.passed and small.measured["baseline_limit_ms"] is None and "baseline ignored" in small.explanation


def test_response_time_without_enough_successful_requests_is_not_judged_and_fails() -> None:
    # the samples are successful requests: a p95 over fast failures (503s in 1 ms) would call a dead service fast
    none = response_time_verdict(None, 0, slo_ms=500)
    assert none.status is Status.FAIL and none.explanation == "not judged: no successful requests"
    few = response_time_verdict(5.0, 19, slo_ms=500)
    assert few.status is Status.FAIL
    assert few.explanation == "not judged: only 19 successful requests, at least 20 are needed for a p95"
    assert response_time_verdict(5.0, 20, slo_ms=500).status is Status.PASS


def test_overall_passes_only_when_every_verdict_passes() -> None:
    ok = Verdict("a", Status.PASS)
    assert overall([ok, ok]) is Status.PASS
    assert overall([ok, Verdict("b", Status.INCONCLUSIVE)]) is Status.INCONCLUSIVE
    assert overall([ok, Verdict("b", Status.INCONCLUSIVE), Verdict("c", Status.FAIL)]) is Status.FAIL
    assert overall([]) is Status.INCONCLUSIVE
    assert Verdict("x", Status.FAIL, {"n": 1}, "why", "error-rate").to_dict()["status"] == "fail"


# --- detection -----------------------------------------------------------------------------------
def _probes(oks: list[bool], step: float = 0.5) -> list[Probe]:
    return [Probe(1000 + i * step, ok) for i, ok in enumerate(oks)]


def test_endpoint_down_holds_only_for_a_sustained_failing_window() -> None:
    assert api_endpoint_down(_probes([False] * 7), sustained_s=3).holds  # 3.0 s of failures
    assert not api_endpoint_down(_probes([False] * 6), sustained_s=3).holds  # 2.5 s
    assert not api_endpoint_down(_probes([True] * 3 + [False] * 4), sustained_s=3).holds
    assert not api_endpoint_down(_probes([False] * 7 + [True]), sustained_s=3).holds  # it answers again
    assert not api_endpoint_down([], sustained_s=3).holds


def test_endpoint_down_tolerates_rare_successes_like_the_alert() -> None:
    oks = [False] * 30
    oks[10] = True  # 1 of 30 = 3% < 5%
    cond = api_endpoint_down(_probes(oks, step=0.2), sustained_s=5)
    assert cond.holds and cond.probes == 30 and cond.failed == 29


def test_log_patterns_are_counted_case_insensitively() -> None:
    lines = [
        "ERROR GET /readyz -> 503 service unavailable (postgres: Connection refused (127.0.0.1:5432))",
        "INFO GET /api/products -> 200",
        "WARNING redis: connection refused",
    ]
    m = match_log_patterns(lines)
    assert m.counts == {"Connection refused": 2, "service unavailable": 1}
    assert m.found("service unavailable") and m.any
    assert not match_log_patterns(["all good"]).any
