"""The bench's accounting of a game day's time: the strict overhead (beyond the alert's ``for:``, the service's
recovery and the verification window) beside the overhead beyond every measured need (also the service's own time to
fail, up to the paging alert's ``activeAt`` as Prometheus recorded it)."""

from __future__ import annotations

from typing import Any

from bench.run import overhead

T0 = 1_000.0


def _experiment(active_after_s: float | None, paged: bool = True) -> dict[str, Any]:
    """A paged outage: 1 s of steady state, the service failing ``active_after_s`` after the injection as
    Prometheus saw it, the alert firing 15 s (its ``for:``) after that plus 0.4 s, ..."""
    injected = T0 + 1.0
    active = None if active_after_s is None else injected + active_after_s
    fired = injected + (active_after_s or 0.0) + 15.4
    alert = {"expected": paged, "fired_at": fired if paged else None, "active_at": active if paged else None}
    return {"started_at": T0, "injected_at": injected, "alert": alert, "resolution_started_at": fired + 0.2,
            "recovered_at": fired + 1.2, "verified_at": fired + 2.0 + 8.5, "finished_at": fired + 2.0 + 8.6}


def test_the_service_time_to_fail_is_a_need_only_beyond_the_strict_figure() -> None:
    e = _experiment(active_after_s=6.0)
    o = overhead(e, method_end=e["recovered_at"] + 0.8, alert_for_s=15.0, verify_window_s=8.0)
    page = next(s for s in o["stretches"] if s["stretch"] == "fault to page")
    assert page["overhead_s"] == 6.4  # strict: everything beyond the for:
    assert page["beyond_needs_s"] == 0.4  # beyond activeAt + for: the monitoring's own lag only
    assert o["service_to_fail_s"] == 6.0
    # 1 (steady) + 6.4 + 0.2 (diagnosis) + 0.8 (after recovery) + 0.5 (verification) + 0.1 (scoring)
    assert o["overhead_s"] == 9.0
    assert o["beyond_needs_s"] == 3.0


def test_without_the_alert_activeat_only_the_strict_figure_is_given() -> None:
    e = _experiment(active_after_s=None)
    o = overhead(e, method_end=e["recovered_at"] + 0.8, alert_for_s=15.0, verify_window_s=8.0)
    assert o["beyond_needs_s"] is None and o["service_to_fail_s"] is None
    assert all("beyond_needs_s" not in s for s in o["stretches"])


def test_an_experiment_that_did_not_page_has_the_same_two_figures() -> None:
    e = _experiment(active_after_s=None, paged=False)
    o = overhead(e, method_end=e["recovered_at"] + 0.8, alert_for_s=15.0, verify_window_s=8.0)
    assert o["beyond_needs_s"] == o["overhead_s"]


def test_a_promised_window_is_a_need_of_the_fault_to_resolution_stretch_only() -> None:
    # a breaker's check that did not page: 1 s steady state, 10.1 s from the fault to the resolution of which the
    # profile's promises (timeout 0.5 s + opens_within_s 5) are 5.5 s; the 4.6 s measured after them stay overhead
    e = {"started_at": T0, "injected_at": T0 + 1.0, "alert": {"expected": False, "fired_at": None, "active_at": None},
         "resolution_started_at": T0 + 11.1, "recovered_at": None, "verified_at": T0 + 20.7,
         "finished_at": T0 + 20.8}
    plain = overhead(e, method_end=T0 + 12.0, alert_for_s=15.0, verify_window_s=8.0)
    promised = overhead(e, method_end=T0 + 12.0, alert_for_s=15.0, verify_window_s=8.0, promise_window_s=5.5)
    stretch = next(s for s in promised["stretches"] if s["stretch"].startswith("fault to resolution"))
    assert stretch["needed_s"] == 5.5 and stretch["overhead_s"] == 4.6
    assert round(plain["overhead_s"] - promised["overhead_s"], 2) == 5.5
    assert promised["beyond_needs_s"] == promised["overhead_s"]  # it did not page: one figure
    # never more than the stretch lasted
    short = overhead(e, method_end=T0 + 12.0, alert_for_s=15.0, verify_window_s=8.0, promise_window_s=50.0)
    assert next(s for s in short["stretches"] if s["stretch"].startswith("fault to resolution"))["overhead_s"] == 0
