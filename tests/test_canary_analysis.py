"""The canary step's decision at its edges: no traffic, all errors, zero errors on little traffic, a slow release."""

from __future__ import annotations

import random

import pytest

from gameday.canary.analysis import Decision, Side, Tolerances, decide, newcombe_interval
from gameday.canary.run import check_steps, parse_steps
from gameday.errors import UsageError

TOL = Tolerances()


def latencies(n: int, centre: float, seed: int) -> tuple[float, ...]:
    rng = random.Random(seed)
    return tuple(max(1.0, rng.gauss(centre, centre * 0.2)) for _ in range(n))


def healthy(n: int, seed: int, centre: float = 20.0) -> Side:
    return Side(n, 0, latencies(n, centre, seed))


def test_newcombe_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (56/70 vs 48/80): method 10 gives
    # 0.0524 to 0.3339
    lo, hi = newcombe_interval(56, 70, 48, 80)
    assert lo == pytest.approx(0.0524, abs=5e-4)
    assert hi == pytest.approx(0.3339, abs=5e-4)


def test_no_canary_traffic_is_inconclusive_never_success() -> None:
    verdict = decide(Side(0, 0), healthy(500, 1), TOL)
    assert verdict.decision is Decision.INCONCLUSIVE
    assert verdict.checks == {"errors": "unknown", "latency": "unknown"}
    assert "no request reached the canary" in verdict.reasons[0]


def test_no_traffic_at_all_is_inconclusive() -> None:
    assert decide(Side(0, 0), Side(0, 0), TOL).decision is Decision.INCONCLUSIVE


def test_every_request_failing_is_a_rollback_even_on_little_traffic() -> None:
    verdict = decide(Side(3, 3), healthy(40, 2), TOL)
    assert verdict.decision is Decision.ROLLBACK
    assert verdict.checks["errors"] == "worse"


def test_a_single_failed_request_against_a_clean_primary_is_already_evidence() -> None:
    # 1/1 failed: Wilson's lower bound of the canary (0.21) is far above the tolerance
    assert decide(Side(1, 1), healthy(400, 3), TOL).decision is Decision.ROLLBACK


def test_zero_errors_on_little_traffic_does_not_promote() -> None:
    verdict = decide(healthy(40, 4), healthy(40, 5), TOL)
    assert verdict.decision is Decision.INCONCLUSIVE
    assert verdict.checks["errors"] == "unknown"


def test_zero_errors_on_enough_traffic_promotes() -> None:
    verdict = decide(healthy(600, 6), healthy(1200, 7), TOL)
    assert verdict.decision is Decision.PROMOTE
    _, hi = verdict.error_diff_ci or (None, None)
    assert hi is not None and hi <= TOL.error_rate


def test_errors_just_above_the_primary_within_noise_stay_inconclusive() -> None:
    # 2% vs 1% on 200 requests each: neither clearly worse nor clearly within 1 point
    verdict = decide(Side(200, 4, latencies(196, 20, 8)), Side(200, 2, latencies(198, 20, 9)), TOL)
    assert verdict.decision is Decision.INCONCLUSIVE


def test_slow_release_is_rolled_back_by_latency_not_errors() -> None:
    canary = Side(600, 0, latencies(600, 170, 10))
    primary = healthy(1200, 11)
    verdict = decide(canary, primary, TOL)
    assert verdict.decision is Decision.ROLLBACK
    assert verdict.checks == {"errors": "ok", "latency": "worse"}
    assert verdict.median_shift_ms is not None and verdict.median_shift_ms > 100


def test_slow_shift_on_few_requests_is_still_caught() -> None:
    verdict = decide(Side(25, 0, latencies(25, 170, 12)), healthy(300, 13), TOL)
    assert verdict.decision is Decision.ROLLBACK
    assert verdict.checks["latency"] == "worse" and verdict.checks["errors"] == "unknown"


def test_a_significant_but_tiny_slowdown_is_within_the_tolerance() -> None:
    canary = Side(3000, 0, tuple(x + 2 for x in latencies(3000, 20, 14)))
    verdict = decide(canary, healthy(3000, 15), TOL)
    assert verdict.latency_p_value is not None and verdict.latency_p_value < 0.05
    assert verdict.checks["latency"] == "ok"


def test_latency_is_judged_on_successful_requests_only() -> None:
    # fast failures are not fast answers: a canary whose few successes are slow is not "fast"
    canary = Side(100, 80, latencies(20, 200, 16))
    verdict = decide(canary, healthy(500, 17), TOL)
    assert verdict.canary["successes_timed"] == 20
    assert verdict.decision is Decision.ROLLBACK


def test_report_carries_both_distributions() -> None:
    verdict = decide(healthy(600, 18), healthy(600, 19), TOL).to_dict()
    for side in ("canary", "primary"):
        assert {"requests", "failures", "error_rate", "p50_ms", "p95_ms", "p99_ms"} <= set(verdict[side])
    assert verdict["decision"] in ("promote", "inconclusive")


@pytest.mark.parametrize("kwargs", [{"error_rate": 1.0}, {"error_rate": -0.1}, {"latency_ms": -1},
                                    {"p95_ratio": 0.9}, {"confidence": 1.0}, {"confidence": 0.2},
                                    {"min_tail": 10}])
def test_tolerances_out_of_range_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Tolerances(**kwargs)


def test_steps_leave_a_primary_to_compare_with() -> None:
    assert check_steps(None, 3) == (1, 2)
    assert check_steps((1, 3), 4) == (1, 3)
    for bad in ((1, 2, 3), (0,), (2, 1), (1, 1)):
        with pytest.raises(UsageError):
            check_steps(bad, 3)
    with pytest.raises(UsageError):
        check_steps(None, 1)
    with pytest.raises(UsageError):
        parse_steps("1,x")
    assert parse_steps("1, 2") == (1, 2)


def test_a_tail_twice_as_slow_by_a_few_milliseconds_is_not_a_rollback() -> None:
    # a freshly started replica: p95 6 ms against 3 ms, significant, but 3 ms is no harm to anyone
    primary = Side(400, 0, tuple([2.0] * 300 + [3.0] * 100))
    canary = Side(200, 0, tuple([3.0] * 150 + [6.0] * 50))
    verdict = decide(canary, primary, Tolerances())
    assert verdict.checks["latency"] == "ok" and verdict.p95_ratio is not None and verdict.p95_ratio > 1.5
    slower = Side(200, 0, tuple([160.0] * 150 + [170.0] * 50))  # the slow release: +150 ms everywhere
    assert decide(slower, primary, Tolerances()).checks["latency"] == "worse"


def test_one_cold_start_request_is_not_a_slow_tail_but_a_measured_tail_is() -> None:
    # a freshly started replica's first answers: median +2 ms, one request in 30 at 80 ms (the p95 of 30 is it)
    primary = Side(300, 0, latencies(300, 8, 20))
    cold = Side(30, 0, tuple([80.0] + [10.0] * 29))
    verdict = decide(cold, primary, TOL)
    assert verdict.checks["latency"] != "worse", verdict.reasons
    # a real tail, on enough requests: one answer in ten 200 ms late
    tail = Side(300, 0, tuple(x + (200.0 if i % 10 == 0 else 0.0) for i, x in enumerate(latencies(300, 8, 21))))
    verdict = decide(tail, primary, TOL)
    assert verdict.checks["latency"] == "worse" and verdict.median_shift_ms is not None
    assert verdict.median_shift_ms < TOL.latency_ms  # caught by its tail, not its median
