"""The per-second timeline file and its reader: pure, no locust."""

from __future__ import annotations

import json
from pathlib import Path

from gameday.load.timeline import WRITE_LAG_S, Second, Timeline, percentile, round_ms, window_complete_at


def _line(t: int, requests: int, failures: int = 0, hist: dict[int, int] | None = None, users: int = 2,
          errors: dict[str, int] | None = None) -> str:
    return json.dumps({"t": t, "requests": requests, "failures": failures, "users": users,
                       "hist": {str(k): v for k, v in (hist or {}).items()}, "errors": errors or {}}) + "\n"


def test_round_ms_follows_locust() -> None:
    assert [round_ms(x) for x in (3.4, 99.6, 123.0, 1234.0, 12_345.0)] == [3, 100, 120, 1200, 12_000]


def test_percentile_is_nearest_rank() -> None:
    hist = {1: 50, 2: 45, 100: 5}
    assert percentile(hist, 0.5) == 1.0
    assert percentile(hist, 0.95) == 2.0
    assert percentile(hist, 0.96) == 100.0
    assert percentile({}, 0.95) is None


def test_read_skips_a_half_written_last_line_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    assert len(Timeline.read(path)) == 0
    path.write_text(_line(10, 5, hist={3: 5}) + _line(11, 7, 1, hist={4: 7}) + '{"t": 12, "requ')
    tl = Timeline.read(path)
    assert [s.t for s in tl.seconds] == [10, 11]
    assert (tl.requests, tl.failures, tl.successes) == (12, 1, 11)


def test_lines_of_the_same_second_are_merged(tmp_path: Path) -> None:
    # distributed mode: a worker's report for second 10 arrives after the master wrote second 10
    path = tmp_path / "timeline.jsonl"
    path.write_text(_line(10, 0, users=4) + _line(11, 3, hist={5: 3}, users=4)
                    + _line(10, 6, 2, hist={5: 4, 2000: 2}, users=0, errors={"GET /: 504": 2}))
    tl = Timeline.read(path)
    first = tl.seconds[0]
    assert (first.t, first.requests, first.failures, first.users) == (10, 6, 2, 4)
    assert first.hist == {5: 4, 2000: 2} and first.errors == {"GET /: 504": 2}
    assert tl.requests == 9 and tl.errors() == {"GET /: 504": 2}


def test_window_keeps_whole_seconds_only() -> None:
    tl = Timeline(Second(t, requests=10, hist={t: 10}) for t in range(100, 110))
    assert [s.t for s in tl.window(102.0, 105.0).seconds] == [102, 103, 104]
    assert [s.t for s in tl.window(102.5, 105.5).seconds] == [103, 104]  # 102 starts before, 105 ends after
    assert [s.t for s in tl.window(end=101.0).seconds] == [100]
    assert [s.t for s in tl.window(start=108).seconds] == [108, 109]
    assert [s.t for s in tl.last(3).seconds] == [107, 108, 109]


def test_a_window_from_a_float_start_is_complete_one_boundary_and_its_length_later() -> None:
    """The verification window (8 s after the method ended at 100.2) is read as soon as its 8 whole seconds are
    written: 101-108, complete at 109 + the writer's lag, not a second later (it began at start + 1 before)."""
    start, length = 100.2, 8.0
    ready = window_complete_at(start, length)
    assert ready == 109 + WRITE_LAG_S
    written = Timeline(Second(t, requests=10) for t in range(95, 109))  # what locust wrote by then: up to 108
    window = written.window(start, ready)
    assert (window.start, window.duration) == (101, length)  # nothing completed before start, 8 s long
    assert written.window(start, ready - WRITE_LAG_S - 0.5).duration < length  # not complete any earlier


def test_totals_rate_and_percentiles_of_a_window() -> None:
    tl = Timeline([Second(100, 100, 1, {10: 95, 500: 5}), Second(101, 100, 0, {10: 100}), Second(102, 0)])
    assert tl.duration == 3.0 and tl.rate_rps == 200 / 3
    assert tl.error_rate == 0.005
    assert tl.p50 == 10.0 and tl.p99 == 500.0
    summary = tl.summary()
    assert summary["requests"] == 200 and summary["p95_ms"] == 10.0 and summary["seconds"] == 3
    assert Timeline().error_rate is None and Timeline().rate_rps == 0.0


def test_a_second_round_trips_through_json() -> None:
    s = Second(42, 3, 1, {5: 2, 2000: 1}, {"boom": 1}, 4)
    data = s.to_json()
    assert data["p50"] == 5.0 and data["p99"] == 2000.0
    assert Second.from_json(json.loads(json.dumps(data))) == s


def test_the_latency_of_successful_requests_is_kept_apart_from_fast_failures() -> None:
    # 90 failures answered in 1 ms (a 503 from the load balancer) and 10 successes at 200 ms
    lines = [{"t": 100, "requests": 100, "failures": 90, "hist": {"1": 90, "200": 10}, "ok_hist": {"200": 10}},
             {"t": 100, "requests": 5, "failures": 0, "hist": {"300": 5}, "ok_hist": {"300": 5}}]
    tl = Timeline.parse("\n".join(json.dumps(line) for line in lines))
    assert tl.p95 == 200.0 and tl.percentile(0.5) == 1.0  # over every request, failures included
    assert tl.ok_hist() == {200: 10, 300: 5} and tl.ok_p95 == 300.0
    assert Second.from_json(tl.seconds[0].to_json()) == tl.seconds[0]
    # a file written before ok_hist existed has no successful latency to judge, not the failures' one
    assert Timeline.parse(json.dumps({"t": 1, "requests": 3, "failures": 0, "hist": {"5": 3}})).ok_p95 is None
