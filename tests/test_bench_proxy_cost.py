"""``bench/proxy_cost.py`` reads pgbench's and redis-benchmark's output right: real output, captured from pgbench 15.18
and redis-benchmark 7.0.15 on this machine (through the fault proxy), and the markdown it renders. Fast: no stack."""

from __future__ import annotations

import pytest

from bench import proxy_cost

# pgbench -n -f select1.sql -c 2 -j 1 -t 5 -l -R 100: stdout, and its per-transaction log (with schedule lag)
PGBENCH_PACED_STDOUT = """\
pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: s.sql
scaling factor: 1
query mode: simple
number of clients: 2
number of threads: 1
maximum number of tries: 1
number of transactions per client: 5
number of transactions actually processed: 10/10
number of failed transactions: 0 (0.000%)
latency average = 0.843 ms
latency stddev = 0.658 ms
rate limit schedule lag: avg 0.080 (max 0.098) ms
initial connection time = 33.101 ms
tps = 70.956709 (without initial connection time)
"""
PGBENCH_PACED_LOG = """\
0 1 510 0 1796599636 673084 73
1 1 1949 0 1796599636 686474 84
0 2 576 0 1796599636 686566 74
"""
# the same without -R: no lag column
PGBENCH_LOG = """\
0 1 708 0 1796599636 885764
1 1 976 0 1796599636 886043
1 2 69 0 1796599636 886114
"""
REDIS_CSV = """\
"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"GET","8368.20","0.117","0.040","0.071","0.143","1.487","33.759"
"""


def test_pgbench_log_latency_is_time_less_schedule_lag_in_ms() -> None:
    assert proxy_cost.pgbench_latencies_ms(PGBENCH_PACED_LOG) == [0.437, 1.865, 0.502]
    assert proxy_cost.pgbench_latencies_ms(PGBENCH_LOG) == [0.708, 0.976, 0.069]


def test_pgbench_log_skips_skipped_and_failed_transactions() -> None:
    assert proxy_cost.pgbench_latencies_ms("0 1 skipped 0 1796599636 673084 73\n0 2 510 0 1796599636 1 10\n") == [0.5]


def test_pgbench_summary_reads_processed_failed_and_tps() -> None:
    assert proxy_cost.pgbench_summary(PGBENCH_PACED_STDOUT) == {"processed": 10, "asked": 10, "failed": 0,
                                                                "tps": 70.956709}


def test_pgbench_without_a_report_is_an_error_that_quotes_it() -> None:
    with pytest.raises(ValueError, match="connection to server"):
        proxy_cost.pgbench_summary("pgbench: error: connection to server at 127.0.0.1 failed\n")


def test_redis_benchmark_csv() -> None:
    assert proxy_cost.redis_benchmark_csv(REDIS_CSV) == {"rps": 8368.2, "p50_ms": 0.071, "p99_ms": 1.487,
                                                          "mean_ms": 0.117}
    with pytest.raises(ValueError, match="0 result rows"):
        proxy_cost.redis_benchmark_csv("")


def test_nearest_rank_and_lost_throughput() -> None:
    assert proxy_cost.nearest_rank([0.3, 0.1, 0.2, 0.4], 0.5) == 0.2
    assert proxy_cost.nearest_rank(list(range(1, 101)), 0.99) == 99
    assert proxy_cost.nearest_rank([], 0.5) is None
    assert proxy_cost._lost_pct(90.0, 100.0) == 10.0


def test_differences_are_per_trial_then_medians() -> None:
    def arm(p50: float, rps: float) -> dict[str, float]:
        return {"p50_ms": p50, "p99_ms": p50 * 2, "mean_ms": p50, "rps": rps}

    rows = [{"through": arm(1.5, 90), "direct": arm(1.0, 100)},  # +0.5 ms, 10% lost
            {"through": arm(3.1, 99), "direct": arm(3.0, 100)},  # +0.1 ms, 1% lost (a slower trial)
            {"through": arm(1.2, 95), "direct": arm(1.0, 100)}]  # +0.2 ms, 5% lost
    out = proxy_cost._compare(rows, "rps")
    assert out["added_p50_ms"] == 0.2  # not 1.5 - 1.0: the median of each arm mixes trials
    assert out["throughput_lost_pct"] == 5.0


def test_rendered_rows_label_the_saturating_throughput() -> None:
    def compared(p50: float, lost: float, rate: str) -> dict[str, object]:
        side = {"p50_ms": p50, "p99_ms": p50, "mean_ms": p50, rate: 100.0}
        return {"through": side, "direct": side, "added_p50_ms": 0.05, "added_p99_ms": 0.2, "added_mean_ms": 0.06,
                "throughput_lost_pct": lost}

    figures = {
        "service": compared(3.0, 1.0, "rps") | {"load": {"users": 4, "wait_s": [0.05, 0.15], "seconds": 20},
                                                "dependency_per_s": {"postgres": 120.0}},
        "postgres": {"clients": 4, "rate_tps": 120.0, "transactions_per_client": 300,
                     "paced": compared(0.2, 0.0, "tps"),
                     "saturating": compared(0.2, 55.0, "tps") | {"transactions_per_client": 5000}},
        "redis": {"one in flight": compared(0.07, 70.0, "rps") | {"clients": 1, "requests": 20000},
                  "saturating": compared(1.6, 60.0, "rps") | {"clients": 50, "requests": 100000}},
    }
    rows = proxy_cost.summary_rows(figures)
    assert len(rows) == 4 and all(row.startswith("| fault proxy: ") and row.count(" | ") == 2 for row in rows)
    assert "SATURATING" in rows[-1] and "(-55%)" in rows[-1] and "(-60%)" in rows[-1]
    assert "p50 +0.05 ms, p99 +0.2 ms" in rows[0] and "≤ 0.3 ms p50 per round trip" in rows[0]
    section = proxy_cost.details(figures, "## ")
    assert section[0] == "## Fault proxy cost (`bench/proxy_cost.py`)"
    assert sum("SATURATING" in line for line in section) == 2
