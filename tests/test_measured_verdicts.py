"""The steady state's decision, pure: stop measuring once the error rate is decided at the SLO; undecided at the cap
is "inconclusive" with its numbers; what was not sent is shown beside the verdict, never in it."""

from __future__ import annotations

from gameday.verify.verdicts import Status, load_decided, measured_error_rate_verdict


def test_a_load_stops_when_its_error_rate_is_decided_with_enough_successes_for_a_p95() -> None:
    assert not load_decided(0, 0)
    assert not load_decided(380, 0)  # < 1% at 95% needs 381 answers without a failure
    assert load_decided(381, 0)
    assert load_decided(10, 2)  # 20% failed: the lower bound is already above 1%, more cannot undo it
    assert not load_decided(16, 0, max_rate=0.2)  # passes at 20%, but 16 successes are too few for a p95
    assert load_decided(20, 0, max_rate=0.2)


def test_an_undecided_verdict_at_the_cap_is_inconclusive_with_its_numbers_and_no_error_rate() -> None:
    v = measured_error_rate_verdict(83, 0, duration_s=20.0, cap_s=20.0, not_sent=5)
    assert v.status is Status.INCONCLUSIVE and not v.passed
    assert v.explanation == ("inconclusive: 83 requests in 20 s, the service answered 4.2 req/s (0 failed, 5 not "
                             "sent); ~381 are needed to show < 1% at 95% (~92 s): raise verify.window_s or set a "
                             "coarser slo.max_error_rate")
    assert v.measured["error_rate"] is None and v.measured["not_sent"] == 5 and v.measured["requests"] == 83


def test_nothing_answered_is_inconclusive_never_a_pass() -> None:
    v = measured_error_rate_verdict(0, 0, duration_s=20.0, cap_s=20.0, not_sent=400, tune="window_s")
    assert v.status is Status.INCONCLUSIVE
    assert v.explanation.startswith("inconclusive: 0 requests in 20 s, the service answered 0.0 req/s (0 failed, "
                                    "400 not sent)") and v.explanation.endswith("raise window_s or set a coarser "
                                                                                "slo.max_error_rate")


def test_not_sent_requests_never_enter_the_verdict() -> None:
    passed = measured_error_rate_verdict(400, 0, duration_s=20.0, cap_s=20.0, not_sent=55)
    assert passed.status is Status.PASS and passed.measured["error_rate"] == 0.0
    assert passed.measured["requests"] == 400 and passed.measured["not_sent"] == 55
    failed = measured_error_rate_verdict(40, 8, duration_s=8.0, cap_s=90.0, not_sent=3)
    assert failed.status is Status.FAIL and failed.measured["error_rate"] == 0.2
    assert failed.explanation.startswith("8/40 failed = 20.00%")
