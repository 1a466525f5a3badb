"""The runbook's dependency resilience (Prevention: circuit breakers, retries, fallback) as checks that can fail.

The profile's ``promises`` are validated with the rest of it; the verdicts are pure functions of what users saw;
a promise not made is a finding (its experiment skipped with it), never a pass; and on the running stack the slow-
and flaky-dependency experiments pass on the reference service and fail, saying why, on its releases built
without the breaker (1.5.0-no-breaker) or without the retries (1.5.0-no-retries).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gameday.calls import Call
from gameday.chaos import lint, runner
from gameday.chaos.promises import (
    Answer,
    breaker_decided,
    breaker_verdict,
    fallback_verdict,
    retries_verdict,
    unaffected_verdict,
    unpromised,
)
from gameday.profile import ProfileError, load
from gameday.verify.verdicts import Status
from tests.local_profiles import ecommerce

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments" / "service-outage"
REFERENCE = load(ROOT / "profiles" / "ecommerce-backend.yaml")
TICKETS = load(ROOT / "profiles" / "ticket-office.yaml")


# --- the profile ----------------------------------------------------------------------------------------
def test_the_reference_service_promises_a_breaker_retries_and_a_fallback_on_redis() -> None:
    promises = REFERENCE.dependency("redis").promises
    assert promises is not None and promises.timeout_ms == 500 and promises.retries
    assert promises.breaker is not None and promises.breaker.fail_fast_ms < promises.timeout_ms
    assert promises.fallback is not None and promises.fallback.endpoint == "cart"
    assert promises.fallback.expect.status == 503 and promises.fallback.expect.json_
    assert {"1.5.0-no-breaker", "1.5.0-no-retries"} <= set(REFERENCE.local.releases)


def test_bad_promises_are_refused_in_one_round_naming_each_field(tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        deps = data["dependencies"]
        deps[0]["promises"] = {"breaker": {"opens_within_s": 5, "fail_fast_ms": 50}}  # no timeout_ms
        deps[1]["promises"] = {"timeout_ms": 500, "fallback": {"endpoint": "no-such", "expect": 503}}
        deps[2]["promises"] = {"timeout_ms": -1, "retires": True}

    with pytest.raises(ProfileError) as caught:
        load(ecommerce(tmp_path, edit))
    problems = [line.split(".yaml: ", 1)[1] for line in caught.value.problems]
    assert problems == [
        "dependencies[0].promises: breaker: needs timeout_ms (a breaker opens on the timeouts)",
        "dependencies[2].promises.timeout_ms: Input should be greater than 0",
        "dependencies[2].promises.retires: unknown key (did you mean 'retries'?)",
        "dependencies[1].promises.fallback.endpoint: 'no-such' names no endpoint"]


def test_a_fallback_needs_a_degraded_dependency(tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["dependencies"][0]["promises"] = {"fallback": {"endpoint": "catalogue", "expect": 503}}

    with pytest.raises(ProfileError, match=r"promises.fallback: postgres has on_outage outage"):
        load(ecommerce(tmp_path, edit))


# --- findings: a promise not made is never a pass --------------------------------------------------------
def test_what_a_profile_does_not_promise_is_a_finding_against_its_prevention_line() -> None:
    assert unpromised(REFERENCE, "breaker") == [
        "no breaker declared for postgres (Prevention: 實作 circuit breakers)",
        "no breaker declared for kafka (Prevention: 實作 circuit breakers)"]
    assert unpromised(TICKETS, "retries") == [
        "no retries declared for postgres (Prevention: 新增 retry 邏輯)",
        "no retries declared for redis (Prevention: 新增 retry 邏輯)"]


@pytest.mark.parametrize(("name", "promise"), [("dependency-slow-breaker", "breaker"),
                                               ("dependency-flaky-retries", "retries"),
                                               ("dependency-degraded-fallback", "fallback")])
def test_an_experiment_of_a_promise_not_made_is_skipped_with_the_finding(name: str, promise: str) -> None:
    experiment = json.loads((EXPERIMENTS / f"{name}.json").read_text())
    assert lint.not_applicable(experiment, REFERENCE, "local") is None
    reason = lint.not_applicable(experiment, TICKETS, "local")
    assert reason is not None and reason.startswith(f"ticket-office: no {promise} declared for redis (Prevention: ")
    assert f"runbook:prevention:{'circuit-breakers' if promise == 'breaker' else promise}" in experiment["tags"]


# --- the verdicts (pure) ---------------------------------------------------------------------------------
def _answers(needing: list[tuple[float, bool, float]], others: int = 0) -> list[Answer]:
    rows = [Answer(at, ok, ms, True, "" if ok else "cart 503") for at, ok, ms in needing]
    return rows + [Answer(i / 100, True, 20.0, False) for i in range(others)]


def test_breaker_verdict_passes_when_failures_turn_fast_and_says_why_it_fails() -> None:
    opening = [(0.5 + i / 10, False, 510.0) for i in range(6)]
    fast = [(6.0 + i / 100, False, 12.0) for i in range(40)]
    passed = breaker_verdict(_answers(opening + fast), "redis", 500, 5, 100)
    assert passed.status is Status.PASS and passed.measured["p95_after_open_ms"] == 12.0
    slow = [(6.0 + i / 10, False, 530.0) for i in range(30)]
    failed = breaker_verdict(_answers(opening + slow), "redis", 500, 5, 100)
    assert failed.status is Status.FAIL
    assert "still took 530 ms (p95 of 30), promised under 100 ms: no breaker opened" in failed.explanation
    hung = breaker_verdict(_answers([(3.0, False, 2900.0)] * 30), "redis", 500, 5, 100)
    assert hung.status is Status.FAIL and "over the promised 500 ms timeout" in hung.explanation
    none = breaker_verdict(_answers([(1.0, True, 1010.0)] * 30), "redis", 500, 5, 100)
    assert none.status is Status.FAIL and "no timeout at work" in none.explanation
    few = breaker_verdict(_answers(opening + fast[:5]), "redis", 500, 5, 100)
    assert few.status is Status.INCONCLUSIVE


def test_the_breaker_probe_stops_once_its_verdict_has_what_it_judges_open_or_not() -> None:
    opening = [(0.5 + i / 10, False, 510.0) for i in range(6)]
    assert not breaker_decided(_answers(opening, others=500), 5)  # still inside the breaker's allowance
    fast = [(6.0 + i / 100, False, 12.0) for i in range(10)]
    assert not breaker_decided(_answers(opening + fast[:9]), 5)
    assert breaker_decided(_answers(opening + fast), 5)
    slow = [(6.0 + i / 2, False, 530.0) for i in range(10)]  # never opened: decided too, and a FAIL
    assert breaker_decided(_answers(opening + slow), 5)
    assert breaker_verdict(_answers(opening + slow), "redis", 500, 5, 100).status is Status.FAIL
    assert not breaker_decided(_answers([(1.0, True, 1010.0)] * 30), 5)  # no failure: the allowance never began


def test_unaffected_verdict_judges_only_what_does_not_need_the_dependency() -> None:
    assert unaffected_verdict(_answers([(1.0, False, 500.0)] * 50, others=500), "redis", 500, 0.01).passed
    slow = [Answer(1.0, True, 900.0, False)] * 500
    verdict = unaffected_verdict(slow, "redis", 500, 0.01)
    assert verdict.status is Status.FAIL and "over the SLO's 500 ms" in verdict.explanation


def test_retries_verdict_decides_the_error_rate_users_saw() -> None:
    assert retries_verdict(_answers([(1.0, True, 10.0)] * 1000), "redis", 0.1).passed
    failing = _answers([(1.0, True, 10.0)] * 950 + [(1.0, False, 10.0)] * 50)
    verdict = retries_verdict(failing, "redis", 0.1)
    assert verdict.status is Status.FAIL
    assert "50 of 1000 requests needing it failed" in verdict.explanation
    assert "retries promised, the resets reached users (first: cart 503)" in verdict.explanation


def test_fallback_verdict_wants_the_promised_answer_not_some_answer() -> None:
    fallback = REFERENCE.dependency("redis").promises.fallback  # type: ignore[union-attr]
    promised = Call("cart", "GET", "/api/cart/x", 503, 503, 8.0)
    assert fallback_verdict(promised, "redis", fallback).passed
    some_200 = Call("cart", "GET", "/api/cart/x", 200, 503, 8.0, error="expected 503, got 200")
    verdict = fallback_verdict(some_200, "redis", fallback)
    assert verdict.status is Status.FAIL and "answered 200, not the promised fallback (expected 503" in \
        verdict.explanation
    wrong_body = Call("cart", "GET", "/api/cart/x", 503, 503, 8.0, problems=("$.detail: 'oops' != 'service "
                                                                          "unavailable'",))
    assert "not the promised fallback ($.detail" in fallback_verdict(wrong_body, "redis", fallback).explanation


# --- on the running stack: each check passes on the reference service and fails without what it checks ---------
def _run(name: str) -> runner.RunResult:
    result = runner.run(name)
    print(f"\n{result.line()}")
    return result


@pytest.mark.slow
def test_the_slow_dependency_check_fails_without_the_breaker(healthy: Any) -> None:
    passed = _run("dependency-slow-breaker")
    assert passed.ok, passed.message
    healthy.deploy("1.5.0-no-breaker", cause="test: no breaker", wait=True, timeout=60)
    failed = _run("dependency-slow-breaker")
    assert not failed.ok
    assert "breaker-fails-fast" in failed.message and "redis slow: breaker fails fast" in failed.message
    assert "no breaker opened, every request waits out the timeout" in failed.message


@pytest.mark.slow
def test_the_flaky_dependency_check_fails_without_the_retries(healthy: Any) -> None:
    passed = _run("dependency-flaky-retries")
    assert passed.ok, passed.message
    healthy.deploy("1.5.0-no-retries", cause="test: no retries", wait=True, timeout=60)
    failed = _run("dependency-flaky-retries")
    assert not failed.ok
    assert "retries-absorb-resets" in failed.message and "redis flaky: users see < 1% errors" in failed.message
    assert "retries promised, the resets reached users" in failed.message


@pytest.mark.slow
def test_the_degraded_dependency_answers_the_promised_fallback(healthy: Any) -> None:
    result = _run("dependency-degraded-fallback")
    assert result.ok, result.message
