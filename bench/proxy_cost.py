"""The fault proxy's cost: what putting ``gameday/proxy/`` between the replicas and their dependencies adds.

Three measurements, each comparing *through* the proxy (its listen port) with *direct* (the dependency's own port)
in the same trial, the two arms back to back, their order alternating from trial to trial (so a drift of the
shared machine does not land on one arm); every difference is computed within one trial and the figures are the
medians of those differences:

1. **The game day's real traffic.** The game day's own load (its users and think time, the profile's endpoint and
   journey mix, locust) against the service, once with the replicas' dependency placeholders rendered to the
   proxy (as the stack runs) and once rendered to the dependencies themselves (the live configuration replaced,
   the replicas rolled). Measured: the service's answers (p50/p99 at sub-millisecond resolution, interpolated
   inside locust's whole milliseconds as ``bench.run.interpolated_percentile`` does; the mean) and its requests/s.
   One exception to "direct": the broker advertises the proxy's address, so after its first request a Kafka
   client is back behind the proxy in both arms (the outbox publishes off the request path). The proxied arm also
   counts what the load asks of the dependencies (PostgreSQL transactions, Redis commands per second): the rate
   the next measurement replays.
2. **PostgreSQL, per round trip**: ``pgbench`` running ``SELECT 1`` (one round trip per transaction), a fixed
   number of transactions, per-transaction log (``-l``, microseconds): at the game day's concurrency (its users)
   and its measured transaction rate (``-R``; latency is the log's time less its schedule lag), then as fast as
   those clients go (the saturating throughput, labelled as such).
3. **Redis, per round trip**: ``redis-benchmark`` GET, a fixed number of requests, its percentiles (CSV, to the
   microsecond): one command in flight (nothing queues, as at the game day's rate of a few hundred commands/s),
   then 50 clients (its default: the saturating throughput).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis

from gameday.config import Settings
from gameday.dependencies.base import Address
from gameday.load.runner import LoadRun, LoadSpec
from gameday.run.background import background_wait
from gameday.run.session import GameDayOptions
from gameday.targets.local.service import FAULT_PROXY
from gameday.targets.local.target import LocalTarget

SERVICE_LOAD_S = 20  # seconds of the game day's load per arm
PG_PACED_S = 10  # seconds pgbench runs at the game day's rate (so a fixed count: rate x this)
PG_SATURATING_TRANSACTIONS = 5000  # per client
PG_SEED = 20261206  # pgbench's schedule of paced transactions: fixed, so both arms replay the same one
REDIS_REQUESTS = {"one in flight": (1, 20_000), "saturating": (50, 50_000)}  # label: (clients, requests)
GOAL_P50_MS, GOAL_THROUGHPUT_LOST_PCT = 0.3, 10.0
ARMS = ("through", "direct")

Percentile = Callable[[dict[int, int], float], float | None]


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return _r(statistics.median(present)) if present else None


def _lost_pct(through: float | None, direct: float | None) -> float | None:
    """Throughput lost through the proxy, in % of the direct arm's (negative: the proxied arm was faster)."""
    return _r(100 * (1 - through / direct), 2) if through is not None and direct else None


def nearest_rank(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile of exact values (pgbench logs microseconds: no interpolation needed)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


# --- parsing the tools' output ------------------------------------------------------------------------------
def pgbench_latencies_ms(log_text: str) -> list[float]:
    """Per-transaction latencies (ms) from pgbench's ``-l`` log: ``client_id transaction_no time script_no
    time_epoch time_us [schedule_lag]``. With ``--rate`` its ``time`` counts from the transaction's scheduled start,
    so the schedule lag (pgbench's own delay in starting it) is taken off: what is left is the round trip."""
    out = []
    for line in log_text.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[2] in ("skipped", "failed"):
            continue
        lag = int(fields[6]) if len(fields) >= 7 else 0
        out.append((int(fields[2]) - lag) / 1000)
    return out


def pgbench_summary(stdout: str) -> dict[str, Any]:
    """From pgbench's report: transactions processed (of those asked), failed ones, and tps without the initial
    connection time."""
    out: dict[str, Any] = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(":")
        if key == "number of transactions actually processed":
            done, _, asked = value.strip().partition("/")
            out["processed"], out["asked"] = int(done), int(asked)
        elif key == "number of failed transactions":
            out["failed"] = int(value.split()[0])
        elif line.startswith("tps = ") and "without initial connection time" in line:
            out["tps"] = float(line.split()[2])
    if "tps" not in out or "processed" not in out:
        raise ValueError(f"pgbench gave no report: {stdout.strip()[-300:]!r}")
    return out


def redis_benchmark_csv(stdout: str) -> dict[str, float]:
    """redis-benchmark's ``--csv`` row of its one test: rps and latencies (ms, to the microsecond)."""
    rows = list(csv.DictReader(io.StringIO(stdout)))
    if len(rows) != 1:
        raise ValueError(f"redis-benchmark gave {len(rows)} result rows, expected 1: {stdout.strip()[-300:]!r}")
    row = rows[0]
    return {"rps": float(row["rps"]), "p50_ms": float(row["p50_latency_ms"]), "p99_ms": float(row["p99_latency_ms"]),
            "mean_ms": float(row["avg_latency_ms"])}


# --- the tools, through or around the proxy ----------------------------------------------------------------
def run_pgbench(address: Address, clients: int, transactions: int, rate: float | None) -> dict[str, Any]:
    """``SELECT 1`` ``transactions`` times per client (one round trip each), paced at ``rate`` tps when given."""
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as work:
        script = Path(work) / "select1.sql"
        script.write_text("SELECT 1;\n")
        command = ["pgbench", "-n", "-h", address.host, "-p", str(address.port), "-U", address.user or "postgres",
                   "-f", str(script), "-c", str(clients), "-j", "1", "-t", str(transactions), "-l",
                   f"--log-prefix={work}/tx"]
        if rate is not None:  # the same seed: both arms get the same random (Poisson) schedule
            command += ["-R", f"{rate:.1f}", f"--random-seed={PG_SEED}"]
        env = {**os.environ, "PGPASSWORD": address.password} if address.password else dict(os.environ)
        proc = subprocess.run([*command, address.database or "postgres"], capture_output=True, text=True, env=env,
                              timeout=300, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}")
        latencies = [ms for log in Path(work).glob("tx.*") for ms in pgbench_latencies_ms(log.read_text())]
    summary = pgbench_summary(proc.stdout)
    return {"tps": _r(summary["tps"], 1), "transactions": summary["processed"], "failed": summary.get("failed", 0),
            "p50_ms": _r(nearest_rank(latencies, 0.50)), "p99_ms": _r(nearest_rank(latencies, 0.99)),
            "mean_ms": _r(statistics.fmean(latencies)) if latencies else None}


def run_redis_benchmark(address: Address, clients: int, requests: int) -> dict[str, Any]:
    proc = subprocess.run(["redis-benchmark", "-h", address.host, "-p", str(address.port), "-c", str(clients), "-n",
                           str(requests), "-t", "get", "--csv"], capture_output=True, text=True, timeout=300,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"redis-benchmark exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return redis_benchmark_csv(proc.stdout)


def _compare(rows: list[dict[str, dict[str, Any]]], rate_key: str) -> dict[str, Any]:
    """Medians over trials of each arm's figures and of the per-trial differences (through less direct)."""
    out: dict[str, Any] = {arm: {key: _median([row[arm].get(key) for row in rows])
                                 for key in ("p50_ms", "p99_ms", "mean_ms", rate_key)} for arm in ARMS}
    for key in ("p50_ms", "p99_ms", "mean_ms"):
        out[f"added_{key}"] = _median([row["through"][key] - row["direct"][key] for row in rows
                                       if row["through"].get(key) is not None and row["direct"].get(key) is not None])
    out["throughput_lost_pct"] = _median([_lost_pct(row["through"][rate_key], row["direct"][rate_key]) for row in rows])
    out["trials"] = rows
    return out


def _alternating(trials: int, measure: Callable[[str], dict[str, Any]]) -> list[dict[str, dict[str, Any]]]:
    """Each trial measures both arms back to back; odd trials start with the direct one."""
    rows = []
    for i in range(trials):
        order = ARMS if i % 2 == 0 else ARMS[::-1]
        rows.append({arm: measure(arm) for arm in order})
    return rows


# --- 1. the game day's real traffic --------------------------------------------------------------------------
def direct_config(target: LocalTarget) -> dict[str, str]:
    """The live configuration with every dependency placeholder rendered to the dependency itself: the keys whose
    proxied and direct renderings differ take the direct value, the rest stay as they are now."""
    service = target.service
    ports = {k: v for k, v in service.ports.items() if not k.startswith(f"{FAULT_PROXY}:")}
    proxied, direct = service.live_config(), dataclasses.replace(service, ports=ports).live_config()
    return {**target.config(), **{k: v for k, v in direct.items() if proxied.get(k) != v}}


@contextmanager
def _configured(target: LocalTarget) -> Iterator[Callable[[str], None]]:
    """A switch between the two arms (the live configuration replaced, the replicas rolled); the configuration the
    stack had is put back and rolled out at the end, whatever happened."""
    through, direct = target.config(), direct_config(target)
    current: list[str] = ["through"]

    def switch(arm: str) -> None:
        if arm != current[0]:
            target.replace_config(through if arm == "through" else direct, cause=f"bench proxy-cost: {arm}")
            target.rollout_restart(wait=True)
            current[0] = arm
        if not target.wait_healthy(timeout=60):
            raise RuntimeError(f"the service is not healthy with its dependencies {arm}")

    try:
        yield switch
    finally:
        if current[0] != "through":
            target.replace_config(through, cause="bench proxy-cost: back through the proxy")
            target.rollout_restart(wait=True)


def _dependency_counters(direct: dict[str, Address], kinds: dict[str, str]) -> dict[str, float]:
    """PostgreSQL's committed transactions and Redis's processed commands so far (asked of them directly)."""
    out: dict[str, float] = {"at": time.monotonic()}
    for name, address in direct.items():
        if kinds[name] == "postgres":
            with psycopg.connect(host=address.host, port=address.port, dbname=address.database, user=address.user,
                                 password=address.password or None, connect_timeout=5, autocommit=True) as conn:
                conn.execute("SELECT pg_stat_clear_snapshot()")
                row = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
                out[name] = float(row.fetchone()[0])  # type: ignore[index]
        elif kinds[name] == "redis":
            client = redis.Redis(host=address.host, port=address.port, socket_timeout=5)
            try:
                out[name] = float(client.info("stats")["total_commands_processed"])
            finally:
                client.close()
    return out


def game_day_load(settings: Settings) -> tuple[int, tuple[float, float]]:
    """The game day's background load: its users and their wait between tasks (as ``gameday run`` sets them)."""
    options = GameDayOptions()
    return options.users, background_wait(settings, options.users, options.verify_window_s)


def _service_arm(target: LocalTarget, settings: Settings, percentile: Percentile,
                 counters: Callable[[], dict[str, float]]) -> dict[str, Any]:
    users, wait = game_day_load(settings)
    before = counters()
    result = LoadRun(LoadSpec(host=target.base_url(), users=users, duration_s=SERVICE_LOAD_S,
                              wait=wait, request_timeout_s=target.answer_timeout_s(),
                              profile=settings.service.source)).start().wait()
    after = counters()
    steady = result.timeline.window((result.timeline.start or 0) + 1, result.timeline.end)  # users all started
    hist, seconds = steady.hist(), after["at"] - before["at"]
    total = sum(hist.values())
    return {"requests": steady.requests, "rps": _r(steady.rate_rps, 1), "error_rate": _r(steady.error_rate, 5),
            "p50_ms": percentile(hist, 0.50), "p99_ms": percentile(hist, 0.99),
            "mean_ms": _r(sum(k * n for k, n in hist.items()) / total) if total else None,
            "dependency_per_s": {k: _r((after[k] - before[k]) / seconds, 1) for k in after if k != "at"}}


def bench_service(target: LocalTarget, settings: Settings, trials: int, percentile: Percentile) -> dict[str, Any]:
    direct = target.service.addresses(direct=True)
    kinds = {dep.name: dep.kind for dep in settings.service.dependencies}
    with _configured(target) as switch:
        def arm(name: str) -> dict[str, Any]:
            switch(name)
            return _service_arm(target, settings, percentile, lambda: _dependency_counters(direct, kinds))

        rows = _alternating(trials, arm)
    out = _compare(rows, "rps")
    rates = [row["through"]["dependency_per_s"] for row in rows]
    out["dependency_per_s"] = {k: _median([r.get(k) for r in rates]) for k in rates[0]} if rates else {}
    rps = out["through"]["rps"]
    out["dependency_ops_per_request"] = _r(sum(v or 0 for v in out["dependency_per_s"].values()) / rps, 1) if rps \
        else None
    users, wait = game_day_load(settings)
    out["load"] = {"users": users, "wait_s": list(wait), "seconds": SERVICE_LOAD_S}
    return out


# --- 2./3. PostgreSQL and Redis directly ---------------------------------------------------------------------
def bench_postgres(target: LocalTarget, name: str, trials: int, rate: float) -> dict[str, Any]:
    addresses = {"through": target.service.addresses()[name], "direct": target.service.addresses(direct=True)[name]}
    clients = GameDayOptions().users
    paced_tx = max(50, math.ceil(rate * PG_PACED_S / clients))
    paced = _compare(_alternating(trials, lambda arm: run_pgbench(addresses[arm], clients, paced_tx, rate)), "tps")
    saturating = _compare(_alternating(trials, lambda arm: run_pgbench(addresses[arm], clients,
                                                                       PG_SATURATING_TRANSACTIONS, None)), "tps")
    return {"clients": clients, "rate_tps": rate, "transactions_per_client": paced_tx, "paced": paced,
            "saturating": saturating | {"transactions_per_client": PG_SATURATING_TRANSACTIONS}}


def bench_redis(target: LocalTarget, name: str, trials: int) -> dict[str, Any]:
    addresses = {"through": target.service.addresses()[name], "direct": target.service.addresses(direct=True)[name]}
    out: dict[str, Any] = {}
    for label, (clients, requests) in REDIS_REQUESTS.items():
        rows = _alternating(trials, lambda arm, c=clients, n=requests: run_redis_benchmark(addresses[arm], c, n))
        out[label] = _compare(rows, "rps") | {"clients": clients, "requests": requests}
    return out


def measure(target: LocalTarget, settings: Settings, trials: int, percentile: Percentile) -> dict[str, Any]:
    """Every figure of the proxy's cost (module docstring); ``percentile``: a sub-millisecond percentile of a
    whole-millisecond histogram (locust's)."""
    deps = {dep.kind: dep.name for dep in settings.service.dependencies}
    out: dict[str, Any] = {"service": bench_service(target, settings, trials, percentile)}
    if "postgres" in deps:
        rate = out["service"]["dependency_per_s"].get(deps["postgres"]) or 100.0
        out["postgres"] = bench_postgres(target, deps["postgres"], trials, rate)
    if "redis" in deps:
        out["redis"] = bench_redis(target, deps["redis"], trials)
    return out


# --- results.md ----------------------------------------------------------------------------------------------
def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+g}"


def _negated(value: float | None) -> float | None:
    return None if value is None else -value


def _added(c: dict[str, Any]) -> str:
    return f"p50 {_signed(c['added_p50_ms'])} ms, p99 {_signed(c['added_p99_ms'])} ms"


def summary_rows(p: dict[str, Any]) -> list[str]:
    """The summary table's rows (``| figure | measured | target |``)."""
    goal = f"≤ {GOAL_P50_MS} ms p50, ≤ {GOAL_THROUGHPUT_LOST_PCT:g}% throughput"
    lines = []
    if s := p.get("service"):
        trips = s.get("dependency_ops_per_request")
        per_request = f" (≤ {round(GOAL_P50_MS * trips, 2)} ms per request)" if trips else ""
        lines.append(f"| fault proxy: the service's answers under the game day's load, dependencies through it vs "
                     f"direct | {_added(s)} per request (~{s.get('dependency_ops_per_request')} dependency round "
                     f"trips each), throughput lost {s['throughput_lost_pct']}% ({s['direct']['rps']} req/s direct) "
                     f"| ≤ {GOAL_P50_MS} ms p50 per round trip{per_request}, ≤ {GOAL_THROUGHPUT_LOST_PCT:g}% "
                     "throughput |")
    if pg := p.get("postgres"):
        paced = pg["paced"]
        lines.append(f"| fault proxy: PostgreSQL round trip at the game day's load (pgbench `SELECT 1`, "
                     f"{pg['clients']} clients, {pg['rate_tps']} tps) | {_added(paced)}, throughput lost "
                     f"{paced['throughput_lost_pct']}% | {goal} |")
    if rd := p.get("redis"):
        one = rd["one in flight"]
        lines.append(f"| fault proxy: Redis round trip, one command in flight (redis-benchmark GET) | {_added(one)} "
                     f"| ≤ {GOAL_P50_MS} ms p50 |")
    saturating = []
    for label, part, unit in (("PostgreSQL", "postgres", "tps"), ("Redis", "redis", "rps")):
        if c := (p.get(part) or {}).get("saturating"):
            saturating.append(f"{label} {c['through'][unit]} / {c['direct'][unit]} {unit.replace('rps', 'req/s')} "
                              f"({_signed(_negated(c['throughput_lost_pct']))}%)")
    if saturating:
        lines.append("| fault proxy: SATURATING throughput, through / direct (closed loop, not the game day's load) | "
                     + "; ".join(saturating) + " | – |")
    return lines


def details(p: dict[str, Any], heading: str) -> list[str]:
    """The section of its own: every comparison, both arms and the difference (medians of per-trial figures)."""
    s = p.get("service") or {}
    load = s.get("load") or {}
    lines = [f"{heading}Fault proxy cost (`bench/proxy_cost.py`)", "",
             "Through the proxy's listen port vs the dependency's own port, both arms back to back in each trial "
             "(order alternating), differences per trial, medians. *Service*: the game day's load "
             f"({load.get('users')} users, think time {load.get('wait_s')} s, the profile's mix, "
             f"{load.get('seconds')} s per arm) with the replicas' dependency placeholders rendered to the proxy vs "
             "to the dependencies (Kafka clients return to the proxy after bootstrap in both arms: the broker "
             "advertises it); latency of the service's answers, sub-ms interpolated inside locust's whole "
             "milliseconds. *PostgreSQL*: pgbench `SELECT 1` (one round trip per transaction), per-transaction log. "
             "*Redis*: redis-benchmark GET, its own percentiles. Dependency work of the game day's load (through "
             f"the proxy): {s.get('dependency_per_s')} per second.", "",
             "| comparison | through p50 / p99 (ms) | direct p50 / p99 (ms) | added p50 / p99 / mean (ms) | "
             "throughput through / direct | lost |", "|---|---|---|---|---|---|"]
    rows: list[tuple[str, dict[str, Any], str]] = []
    if s:
        rows.append(("service under the game day's load", s, "rps"))
    if pg := p.get("postgres"):
        rows.append((f"PostgreSQL paced: {pg['clients']} clients at {pg['rate_tps']} tps, "
                     f"{pg['transactions_per_client']} tx each", pg["paced"], "tps"))
        rows.append((f"PostgreSQL SATURATING: {pg['clients']} clients, {pg['saturating']['transactions_per_client']}"
                     " tx each", pg["saturating"], "tps"))
    for label, c in (p.get("redis") or {}).items():
        rows.append((f"Redis {label}: {c['clients']} clients, {c['requests']} GETs"
                     + (" (SATURATING)" if label == "saturating" else ""), c, "rps"))
    for label, c, rate in rows:
        t, d = c["through"], c["direct"]
        lines.append(f"| {label} | {t['p50_ms']} / {t['p99_ms']} | {d['p50_ms']} / {d['p99_ms']} | "
                     f"{c['added_p50_ms']} / {c['added_p99_ms']} / {c['added_mean_ms']} | {t[rate]} / {d[rate]} | "
                     f"{c['throughput_lost_pct']}% |")
    lines.append("")
    return lines
