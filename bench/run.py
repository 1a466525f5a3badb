"""``make bench``: how fast and how faithfully gameday judges, on the local target.

Writes ``bench/results.json`` and ``bench/results.md``. Every figure is the median of several runs;
every comparison is a ratio measured in the same run. Usage::

    python -m bench.run [--only smoke,detection,fidelity,headroom,recovery,gameday] [--trials N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from gameday import faults
from gameday.abort import abort_all
from gameday.config import Settings, use_settings
from gameday.ledger import Ledger
from gameday.load.runner import LoadRun, LoadSpec
from gameday.load.timeline import percentile, round_ms
from gameday.run.prober import Prober, outage_decided
from gameday.run.session import delta
from gameday.targets.local import stack as local_stack
from gameday.targets.local.target import LocalTarget

HERE = Path(__file__).resolve().parent
TRIVIAL_LOCUSTFILE = HERE / "locust_trivial.py"
CANARY_INTERVAL_S, CANARY_CHECKS = 60, 5  # the common canary-analysis defaults: 1 min interval, 5 checks


def median(values: list[float]) -> float | None:
    """Median, or None without values."""
    return round(statistics.median(values), 3) if values else None


def _gameday(*args: str, settings: Settings, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(settings.state_dir)}
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


# --- 1. smoke time to verdict ------------------------------------------------------------------
def bench_smoke(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """``gameday smoke`` on a healthy stack, start to exit."""
    times, confidences, passed = [], [], []
    for _ in range(trials):
        t0 = time.monotonic()
        res = _gameday("smoke", "--json", settings=settings)
        times.append(time.monotonic() - t0)
        passed.append(res.returncode == 0)
        try:
            data = json.loads(res.stdout)
            confidences.append(_smoke_confidence(data))
        except (json.JSONDecodeError, KeyError, TypeError):
            confidences.append(None)
    return {
        "wall_s_median": median(times),
        "wall_s_all": [round(t, 2) for t in times],
        "passed": passed,
        "confidence": next((c for c in confidences if c), None),
        "canary_defaults_s": CANARY_INTERVAL_S * CANARY_CHECKS,
        "speedup_vs_canary_defaults": round(CANARY_INTERVAL_S * CANARY_CHECKS / median(times), 1) if times else None,
    }


def _smoke_confidence(data: dict[str, Any]) -> dict[str, Any] | None:
    attempts = data.get("attempts") or [data]
    for attempt in attempts:
        for verdict in attempt.get("verdicts", []):
            if verdict.get("item") == "error-rate":
                return verdict.get("measured")
    return None


# --- 2. detection latency -----------------------------------------------------------------------
def bench_detection(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """From a fault's instant to gameday's detection decision (the prober's 2nd failed probe of a path)."""
    ledger = Ledger(target.state.ledger)
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        "every replica killed": ("kill-replicas", {"rounds": 1}),
        "PostgreSQL stopped": ("stop-dependency", {"dependency": "postgres"}),
    }
    out: dict[str, Any] = {}
    base = target.base_url()
    order = httpx.post(base + "/api/orders", timeout=5, json={"customer": "bench", "items": [
        {"product_id": 1, "quantity": 1}]}).json()["id"]
    for label, (fault, params) in cases.items():
        latencies = []
        for _ in range(trials):
            _wait_healthy(target)
            prober = Prober(base, ["/healthz", "/api/products", f"/api/orders/{order}"], hz=12).start()
            try:
                _wait(lambda p=prober: len(p.snapshot()) >= 6, 10)
                instant = time.time()
                faults.inject(target, ledger, fault, params)
                decided = _wait(lambda p=prober, t=instant: outage_decided(p.snapshot(t), t), 15)
                latencies.append(decided.at + decided.latency_s - instant)
            finally:
                prober.stop()
                abort_all(ledger)
        out[label] = {"median_s": median(latencies), "worst_s": round(max(latencies), 3),
                      "trials": len(latencies), "all_s": [round(x, 3) for x in latencies]}
    return out


# --- 3. measurement fidelity --------------------------------------------------------------------
_HAPROXY_LINE = re.compile(
    r"\[(?P<ts>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3})\] ecommerce-backend-lb \S+ "
    r"(?P<tq>-?\d+)/(?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tr>-?\d+)/(?P<ta>\d+) (?P<status>\d{3}) "
)


def haproxy_requests(log: Path, start: float, end: float) -> list[tuple[float, int, float]]:
    """(time, status, total ms) of every request HAProxy logged in [start, end)."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = _HAPROXY_LINE.search(line)
        if not m:
            continue
        ts = datetime.strptime(m.group("ts"), "%d/%b/%Y:%H:%M:%S.%f").timestamp()
        if start <= ts < end:
            out.append((ts, int(m.group("status")), float(m.group("ta"))))
    return out


def _p95(values: list[float]) -> float | None:
    """The p95 of HAProxy's times, by the same rounding and nearest-rank rule as gameday's timeline."""
    return percentile(Counter(round_ms(ms) for ms in values), 0.95)


def bench_fidelity(target: LocalTarget, settings: Settings, trials: int, seconds: float = 20) -> dict[str, Any]:
    """gameday's error rate and p95 (locust timeline) against HAProxy's own request log, same window."""
    ledger = Ledger(target.state.ledger)
    rows = []
    for _ in range(trials):
        _wait_healthy(target)
        run = LoadRun(LoadSpec(host=target.base_url(), users=4, duration_s=seconds, wait=(0.05, 0.15))).start()
        try:
            _wait(lambda r=run: r.timeline().duration >= 3, 30)
            faults.inject(target, ledger, "stop-dependency", {"dependency": "postgres"})
            time.sleep(3)  # the fault's length: orders fail, the catalogue is served from the cache
        finally:
            abort_all(ledger)
        result = run.wait()
        timeline = result.timeline
        start, end = timeline.start, timeline.end
        assert start is not None and end is not None
        window = timeline.window(start + 1, end)  # whole seconds, both sides
        logged = haproxy_requests(target.state.logs / "load-balancer.log", start + 1, end)
        lb_failures = sum(1 for _, status, _ in logged if status >= 500)
        ours = window.failures / window.requests if window.requests else 0.0
        theirs = lb_failures / len(logged) if logged else 0.0
        p95_ours, p95_lb = window.p95, _p95([ms for _, _, ms in logged])
        rows.append({
            "requests_gameday": window.requests, "requests_haproxy": len(logged),
            "error_rate_gameday": round(ours, 5), "error_rate_haproxy": round(theirs, 5),
            "difference_pp": round(100 * (ours - theirs), 3),
            "p95_gameday_ms": p95_ours, "p95_haproxy_ms": p95_lb,
            "p95_ratio": round(p95_ours / p95_lb, 3) if p95_ours and p95_lb else None,
        })
    return {
        "difference_pp_median": median([abs(r["difference_pp"]) for r in rows]),
        "p95_ratio_median": median([r["p95_ratio"] for r in rows if r["p95_ratio"]]),
        "runs": rows,
    }


# --- 4. load generator headroom -----------------------------------------------------------------
def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_headroom(target: LocalTarget, settings: Settings, trials: int, seconds: int = 8) -> dict[str, Any]:
    """Requests/s locust (one process, so one core) drives at /healthz behind the LB, against wrk, same run."""
    url = target.base_url() + "/healthz"
    wrk = shutil.which("wrk")
    rows = []
    for _ in range(trials):
        cpu0, t0 = _children_cpu_s(), time.monotonic()
        result = LoadRun(LoadSpec(host=target.base_url(), users=20, duration_s=seconds,
                                  locustfile=TRIVIAL_LOCUSTFILE)).start().wait()
        locust_cpu = (_children_cpu_s() - cpu0) / (time.monotonic() - t0)
        steady = result.timeline.window((result.timeline.start or 0) + 1, result.timeline.end)
        row: dict[str, Any] = {"locust_rps": round(steady.rate_rps, 1), "locust_cpu_cores": round(locust_cpu, 2)}
        if wrk:
            cpu0, t0 = _children_cpu_s(), time.monotonic()
            out = subprocess.run([wrk, "-t1", "-c20", f"-d{seconds}s", url], capture_output=True, text=True,
                                 timeout=seconds + 30, check=False).stdout
            row["wrk_cpu_cores"] = round((_children_cpu_s() - cpu0) / (time.monotonic() - t0), 2)
            m = re.search(r"Requests/sec:\s+([\d.]+)", out)
            row["wrk_rps"] = float(m.group(1)) if m else None
            if row["wrk_rps"] and steady.rate_rps:
                row["ratio_wrk_over_locust"] = round(row["wrk_rps"] / steady.rate_rps, 2)
        rows.append(row)
    return {"runs": rows, "locust_rps_median": median([r["locust_rps"] for r in rows]),
            "wrk_rps_median": median([r["wrk_rps"] for r in rows if r.get("wrk_rps")]),
            "ratio_wrk_over_locust_median": median([r["ratio_wrk_over_locust"] for r in rows
                                                    if r.get("ratio_wrk_over_locust")])}


# --- 6. recovery --------------------------------------------------------------------------------
def bench_recovery(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """From ``rollout restart`` / ``rollout undo`` to every replica ready and the LB answering 200."""
    ledger = Ledger(target.state.ledger)
    restart, undo = [], []
    for _ in range(trials):
        _wait_healthy(target)
        t0 = time.monotonic()
        target.rollout_restart(wait=False)
        _wait(lambda: target.wait_healthy(timeout=0.1), 60)
        restart.append(time.monotonic() - t0)
        try:
            faults.inject(target, ledger, "bad-release", {})
            _wait(lambda: _status(target.base_url() + "/api/products") == 503, 60)
            t0 = time.monotonic()
            target.rollout_undo(wait=False)
            _wait(lambda: target.wait_healthy(timeout=0.1), 60)
            undo.append(time.monotonic() - t0)
        finally:
            abort_all(ledger)
    return {"rollout_restart_s": {"median": median(restart), "all": [round(x, 2) for x in restart]},
            "rollout_undo_s": {"median": median(undo), "all": [round(x, 2) for x in undo]}}


# --- 5. game day wall time ------------------------------------------------------------------------
def bench_gameday(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """One full game day (``trials`` is not used: one run takes minutes); wall time per experiment and phase."""
    out = Path(settings.reports_dir).resolve() / "bench"
    before = set(out.glob("*/report.json"))
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "gameday.cli", "run", "--no-live", "--reports-dir", str(out)],
                            env={**os.environ, "GAMEDAY_STATE_DIR": str(settings.state_dir)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=1500)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the game day undoes its fault and writes a partial report
        _, stderr = proc.communicate(timeout=120)
    finally:
        abort_all(Ledger(target.state.ledger))
    wall = time.monotonic() - t0
    written = sorted(set(out.glob("*/report.json")) - before)
    if not written:
        return {"error": f"no report (exit {proc.returncode}): {stderr.strip()[-300:]}"}
    latest = written
    report = json.loads(latest[-1].read_text())
    per = {}
    for e in report["experiments"]:
        phases = {
            "steady state + injection": delta(e["started_at"], e.get("injected_at")),
            "detection": e.get("time_to_detect_s"),
            "diagnosis (incl. waiting for the page)": delta(e.get("detected_at"), e.get("resolution_started_at")),
            "resolution": delta(e.get("resolution_started_at"), e.get("recovered_at")),
            "verification": delta(e.get("recovered_at") or e.get("injected_at"), e.get("verified_at")),
            "total": delta(e["started_at"], e["finished_at"]),
        }
        per[e["name"]] = {"status": e["status"], **phases}
    return {"exit_code": proc.returncode, "wall_s": round(wall, 1), "report": str(latest[-1].parent),
            "baseline_rps": report["baseline"]["rps"], "experiments": per}


# --- helpers ----------------------------------------------------------------------------------
def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=3).status_code
    except httpx.HTTPError:
        return None


def _wait(cond: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)  # poll
    raise TimeoutError(f"bench condition not met within {timeout:.0f}s")


def _wait_healthy(target: LocalTarget) -> None:
    if not target.wait_healthy(timeout=60):
        target.rollout_restart(wait=True)
        if not target.wait_healthy(timeout=60):
            raise RuntimeError("stack not healthy")


BENCHES: dict[str, Callable[[LocalTarget, Settings, int], dict[str, Any]]] = {
    "smoke": bench_smoke,
    "detection": bench_detection,
    "fidelity": bench_fidelity,
    "headroom": bench_headroom,
    "recovery": bench_recovery,
    "gameday": bench_gameday,
}
DEFAULT_TRIALS = {"smoke": 3, "detection": 10, "fidelity": 3, "headroom": 3, "recovery": 3, "gameday": 1}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
            "machine": platform.machine(), "date": datetime.now().isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks on a local stack of their own and write the results."""
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--trials", type=int, default=None, help="override every benchmark's trial count")
    args = parser.parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BENCHES]
    if unknown:
        print(f"bench: unknown benchmark {unknown[0]!r}: expected {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    state = Path(os.environ.get("GAMEDAY_STATE_DIR", f"/var/tmp/gameday-bench-{os.getuid()}"))
    settings = use_settings(Settings(state_dir=state))
    results_path = HERE / "results.json"
    results: dict[str, Any] = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["machine"] = machine()
    local_stack.up(settings)
    target = LocalTarget(settings)
    try:
        for name in chosen:
            trials = args.trials or DEFAULT_TRIALS[name]
            print(f"bench {name} ({trials} trials)...", file=sys.stderr, flush=True)
            started = time.monotonic()
            figures = BENCHES[name](target, settings, trials)
            results[name] = figures | {"bench_wall_s": round(time.monotonic() - started)}
            results_path.write_text(json.dumps(results, indent=2, default=str))
    finally:
        local_stack.down(settings)
    (HERE / "results.md").write_text(render_markdown(results))
    print((HERE / "results.md").read_text())
    return 0


def render_markdown(r: dict[str, Any]) -> str:
    """The results as a markdown table for the README."""
    m = r.get("machine", {})
    lines = [f"Measured {m.get('date', '?')} on {m.get('cpus', '?')} cores, Python {m.get('python', '?')} "
             f"(`make bench`; medians).", "", "| figure | measured | target |", "|---|---|---|"]
    if s := r.get("smoke"):
        lines.append(f"| smoke: time to verdict | {s['wall_s_median']} s (canary defaults: {s['canary_defaults_s']} s, "
                     f"{s['speedup_vs_canary_defaults']}× faster) | < 15 s at 95% confidence |")
    if d := r.get("detection"):
        for label, v in d.items():
            if isinstance(v, dict) and "median_s" in v:
                lines.append(f"| detection: {label} | median {v['median_s']} s, worst {v['worst_s']} s "
                             f"({v['trials']} trials) | ≤ 1 s median, ≤ 2 s worst |")
    if f := r.get("fidelity"):
        lines.append(f"| fidelity: error rate vs HAProxy log | {f['difference_pp_median']} pp | ≤ 0.2 pp |")
        lines.append(f"| fidelity: p95 gameday / HAProxy | {f['p95_ratio_median']} | within 10% |")
    if h := r.get("headroom"):
        rate = (r.get("gameday") or {}).get("baseline_rps")
        extra = f"; {round(h['locust_rps_median'] / rate, 1)}× the game day's {rate:.0f} req/s" if rate else ""
        lines.append(f"| headroom: locust / wrk on /healthz | {h['locust_rps_median']} / {h['wrk_rps_median']} req/s"
                     f"{extra} | ≥ 10× the game day's rate |")
    if (g := r.get("gameday")) and "wall_s" in g:
        lines.append(f"| full game day wall time | {g['wall_s']} s (exit {g['exit_code']}) | < 600 s |")
    if rc := r.get("recovery"):
        lines.append(f"| recovery: rollout restart | {rc['rollout_restart_s']['median']} s | – |")
        lines.append(f"| recovery: rollout undo after the bad release | {rc['rollout_undo_s']['median']} s | – |")
    if (g := r.get("gameday")) and g.get("experiments"):
        lines += ["", "Game day per experiment and phase (seconds):", "",
                  "| experiment | status | steady+inject | detect | diagnose | resolve | verify | total |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, e in g["experiments"].items():
            vals = [e.get(k) for k in ("steady state + injection", "detection",
                                       "diagnosis (incl. waiting for the page)", "resolution", "verification",
                                       "total")]
            lines.append(f"| {name} | {e['status']} | " + " | ".join("–" if v is None else f"{v}" for v in vals)
                         + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
