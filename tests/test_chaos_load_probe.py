"""The steady state's load check measures a slow burst again, never a failing one (fakes of the measurement)."""

from __future__ import annotations

from typing import Any

from gameday.chaos.probes import slow_burst_measured_again


def _burst(errors_ok: bool, latency_ok: bool, p95_ms: float) -> dict[str, Any]:
    ok = errors_ok and latency_ok
    return {"ok": ok, "errors_ok": errors_ok, "latency_ok": latency_ok, "p95_ms": p95_ms, "duration_s": 1.5,
            **({} if ok else {"reason": "latency: above baseline" if errors_ok else "errors: 5/400 failed"}),
            "latency_verdict": {"status": "pass" if latency_ok else "fail"}}


def measurements(*bursts: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """A measure() that hands out ``bursts`` in order, and the list of those it handed out."""
    taken: list[dict[str, Any]] = []

    def measure() -> dict[str, Any]:
        taken.append(bursts[len(taken)])
        return taken[-1]

    return taken, measure


def test_a_slow_burst_then_a_normal_one_passes_and_keeps_the_first() -> None:
    taken, measure = measurements(_burst(True, False, 180.0), _burst(True, True, 30.0))
    result = slow_burst_measured_again(measure)
    assert len(taken) == 2
    assert result["ok"] and result["p95_ms"] == 30.0
    assert result["first_burst"]["p95_ms"] == 180.0 and result["first_burst"]["reason"] == "latency: above baseline"


def test_two_slow_bursts_fail_on_the_second() -> None:
    taken, measure = measurements(_burst(True, False, 180.0), _burst(True, False, 200.0))
    result = slow_burst_measured_again(measure)
    assert len(taken) == 2
    assert not result["ok"] and result["p95_ms"] == 200.0 and result["reason"].startswith("latency")


def test_failed_requests_are_never_measured_again() -> None:
    for first in (_burst(False, True, 30.0), _burst(False, False, 180.0)):
        taken, measure = measurements(first, _burst(True, True, 30.0))
        result = slow_burst_measured_again(measure)
        assert len(taken) == 1
        assert not result["ok"] and "first_burst" not in result and result["reason"].startswith("errors")


def test_a_normal_burst_is_measured_once() -> None:
    taken, measure = measurements(_burst(True, True, 30.0), _burst(True, True, 30.0))
    assert slow_burst_measured_again(measure)["ok"] and len(taken) == 1
