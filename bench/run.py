"""``make bench``: how fast and how faithfully gameday judges, on the local target.

Writes ``bench/results.json`` and ``bench/results.md``. Every figure is the median of several runs;
every comparison is a ratio measured in the same run. Usage::

    python -m bench.run [--only smoke,detection,...] [--trials N]   (the names: BENCHES below)
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
import tempfile
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
from gameday.verify.smoke import verify

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
    """``gameday smoke`` on a healthy stack: its time to verdict (the report's) and the command's wall time; then
    the gate's verdicts in-process: 20 trials healthy (all must pass), 10 with PostgreSQL's postmaster frozen (all
    must fail, naming it: pooled connections still serve, only a new connection hangs)."""
    times, walls, confidences, passed = [], [], [], []
    for _ in range(trials):
        t0 = time.monotonic()
        res = _gameday("smoke", "--json", settings=settings)
        walls.append(time.monotonic() - t0)
        passed.append(res.returncode == 0)
        try:
            data = json.loads(res.stdout)
            times.append(float(data["elapsed_s"]))
            confidences.append(_smoke_confidence(data))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            confidences.append(None)
    healthy = [verify(target, settings) for _ in range(20)]
    healthy_failed = [v.line() for a in healthy for v in a.verdicts if not v.passed]
    ledger = Ledger(target.state.ledger)
    frozen_named = 0
    try:
        faults.inject(target, ledger, "hang-dependency", {"dependency": settings.service.critical()[0]})
        for _ in range(10):
            attempt = verify(target, settings, max_load_s=5)
            deps = next(v for v in attempt.verdicts if v.item == "dependencies")
            frozen_named += not attempt.passed and settings.service.critical()[0] in deps.explanation
    finally:
        abort_all(ledger)
    return {
        "verdict_s_median": median(times),
        "verdict_s_all": [round(t, 2) for t in times],
        "wall_s_median": median(walls),
        "wall_s_all": [round(t, 2) for t in walls],
        "passed": passed,
        "healthy_passed_of_20": sum(a.passed for a in healthy),
        "healthy_failed_lines": healthy_failed,
        "frozen_database_failed_naming_it_of_10": frozen_named,
        "confidence": next((c for c in confidences if c), None),
        "canary_defaults_s": CANARY_INTERVAL_S * CANARY_CHECKS,
        "speedup_vs_canary_defaults": round(CANARY_INTERVAL_S * CANARY_CHECKS / median(walls), 1) if walls else None,
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
    """From the moment a fault takes effect to gameday's detection decision (the prober's 2nd failed probe of one
    series; a probe that outlasts the latency SLO has failed).

    When a fault takes effect: the kill, the freeze (SIGSTOP) or the stop itself. The bad release passes its probes
    and dies at its first API request, replica after replica as the rollout goes: it takes effect when users stop
    being served, i.e. at the earliest start of a failed probe that ended after the last successful answer before
    the decision (a stray failure while a good replica still served is not the outage).
    """
    ledger = Ledger(target.state.ledger)
    critical = settings.service.critical()
    cases: dict[str, tuple[str, dict[str, Any], bool]] = {
        "every replica killed": ("kill-replicas", {"rounds": 1}, False),
        "every replica frozen (hang)": ("freeze-replicas", {}, False),
        "bad release": ("bad-release", {}, True),
    }
    if critical:
        cases[f"{critical[0]} stopped"] = ("stop-dependency", {"dependency": critical[0]}, False)
    out: dict[str, Any] = {}
    for label, (fault, params, from_first_failure) in cases.items():
        latencies = []
        for _ in range(trials):
            _wait_healthy(target)
            prober = Prober.for_profile(settings.service, target.base_url()).start()
            try:
                _wait(lambda p=prober: len(p.snapshot()) >= 6, 10)
                instant = time.time()
                faults.inject(target, ledger, fault, params)
                decided = _wait(lambda p=prober, t=instant: outage_decided(p.snapshot(t), t), 30)
                if from_first_failure:
                    instant = _outage_start(prober.snapshot(instant), decided.done, instant)
                latencies.append(decided.done - instant)
            finally:
                prober.stop()
                abort_all(ledger)
        out[label] = {"median_s": median(latencies), "worst_s": round(max(latencies), 3),
                      "trials": len(latencies), "all_s": [round(x, 3) for x in latencies]}
    return out


def _outage_start(observations: list[Any], decided_at: float, floor: float) -> float:
    """When users stopped being served: the earliest start of a failed probe answered (or timed out) after the
    last successful answer before ``decided_at`` (the decision's own probes among them)."""
    last_ok = max((o.done for o in observations if o.ok and o.done <= decided_at), default=floor)
    return min(o.at for o in observations if not o.ok and last_ok < o.done <= decided_at)


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
        run = LoadRun(LoadSpec(host=target.base_url(), users=4, duration_s=seconds, wait=(0.05, 0.15),
                               profile=settings.service.source)).start()
        try:
            _wait(lambda r=run: r.timeline().duration >= 3, 30)
            faults.inject(target, ledger, "stop-dependency", {"dependency": settings.service.critical()[0]})
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
    """Requests/s locust (one process, so one core) drives at the health path behind the LB, against wrk."""
    url = target.base_url() + settings.service.service.health_path
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
            _wait(lambda: _status(target.base_url() + _first_read_path(settings)) == 503, 60)
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
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(settings.state_dir)}
    out = Path(settings.reports_dir).resolve() / "bench"
    return _game_day(env, out, lambda: abort_all(Ledger(target.state.ledger)))


SECOND_PROFILE = HERE.parent / "profiles" / "ticket-office.yaml"


def bench_second_service(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """The second reference service's whole game day (``GAMEDAY_PROFILE=profiles/ticket-office.yaml make game-day``)
    on a stack of its own: nothing in gameday/ knows it, only its profile does."""
    env = {**os.environ, "GAMEDAY_PROFILE": str(SECOND_PROFILE),
           "GAMEDAY_STATE_DIR": f"{settings.state_dir}-ticket-office"}

    def gameday(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gameday.cli", *args], env=env, capture_output=True, text=True,
                              check=False, timeout=300)

    up = gameday("up")
    if up.returncode != 0:
        return {"error": f"gameday up failed: {up.stderr.strip()[-300:]}"}
    try:
        return _game_day(env, Path(settings.reports_dir).resolve() / "bench-ticket-office", lambda: gameday("abort"))
    finally:
        gameday("down")


def _game_day(env: dict[str, str], out: Path, cleanup: Any) -> dict[str, Any]:
    """``gameday run`` in a subprocess, as a person runs it; its report's figures per experiment and phase."""
    before = set(out.glob("*/report.json"))
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "gameday.cli", "run", "--no-live", "--reports-dir", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=1500)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the game day undoes its fault and writes a partial report
        _, stderr = proc.communicate(timeout=120)
    finally:
        cleanup()
    wall = time.monotonic() - t0
    written = sorted(set(out.glob("*/report.json")) - before)
    if not written:
        return {"error": f"no report (exit {proc.returncode}): {stderr.strip()[-300:]}"}
    report = json.loads(written[-1].read_text())
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
        diagnosis = e.get("diagnosis") or {}
        per[e["name"]] = {"status": e["status"], "diagnosis": diagnosis.get("verdict"),
                          "diagnosis_right": diagnosis.get("correct"), **phases}
    return {"exit_code": proc.returncode, "wall_s": round(wall, 1), "report": str(written[-1].parent),
            "baseline_rps": report["baseline"]["rps"], "experiments": per,
            "skipped": {s["name"]: s["reason"] for s in report.get("skipped", [])}}


# --- 6. regression gate false positives ---------------------------------------------------------------
REGRESSION_EXPERIMENT = "all-pods-down"


def bench_regression(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """``trials`` healthy, unchanged game days of one experiment into a history of their own; then each run is
    judged by the regression gate against the others (leave one out, ``Policy`` defaults): every regression
    found is a false positive. Also how large a slowdown the gate needs to see (threshold - median)."""
    from gameday.history.gate import FIGURES, Policy, baseline, judge, threshold

    state = Path(tempfile.mkdtemp(prefix="bench-history-"))
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(settings.state_dir),
           "GAMEDAY_HISTORY__URL": f"sqlite:///{state / 'history.db'}"}
    series: dict[str, list[float]] = {f: [] for f in FIGURES}
    exits = []
    for _ in range(trials):
        _wait_healthy(target)
        proc = subprocess.run([sys.executable, "-m", "gameday.cli", "run", REGRESSION_EXPERIMENT, "--no-live",
                               "--reports-dir", str(state / "reports")], env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        abort_all(Ledger(target.state.ledger))
        exits.append(proc.returncode)
        reports = sorted((state / "reports").glob("*/report.json"))
        if proc.returncode != 0 or not reports:
            continue  # the gate judges passed runs only
        exp = json.loads(reports[-1].read_text())["experiments"][0]
        for figure in FIGURES:
            if exp.get(f"time_to_{figure}_s") is not None:
                series[figure].append(exp[f"time_to_{figure}_s"])
    policy = Policy.from_settings(settings.history)
    judged = regressed = 0
    figures: dict[str, Any] = {}
    for figure, values in series.items():
        for i, value in enumerate(values):
            others = values[:i] + values[i + 1:]
            result = judge({"x": {figure: value}}, {"x": {figure: others}}, policy)
            judged += len(result.findings) - len(result.not_enough_history)
            regressed += len(result.regressions)
        b = baseline(values, policy)
        figures[figure] = {"median_s": median(values), "mad_s": round(b.mad, 3) if b else None,
                           "threshold_s": round(threshold(b, policy, figure), 2) if b else None,
                           "all": [round(v, 2) for v in values]}
    shutil.rmtree(state, ignore_errors=True)
    return {"experiment": REGRESSION_EXPERIMENT, "runs": trials, "passed_runs": exits.count(0),
            "policy": {"k": policy.k, "relative": policy.relative, "relative_verify": policy.relative_verify,
                       "absolute_s": policy.absolute_s, "min_runs": policy.min_runs},
            "judged": judged, "false_positives": regressed,
            "false_positive_rate": round(regressed / judged, 4) if judged else None, "figures": figures}


# --- 8. canary: time to the rollback decision -------------------------------------------------------------
def bench_canary(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """``gameday canary`` of the profile's bad and slow releases: from the canary's first request (HAProxy's log)
    to the rollback decision, and whether it was the right decision (rolled back at the first step, by errors for
    the bad release and by latency for the slow one)."""
    local = settings.service.local
    assert local is not None and local.bad_release is not None and local.slow_release is not None
    cases = {"bad release": (local.bad_release.version, "errors"),
             "slow release": (local.slow_release.version, "latency")}
    out: dict[str, Any] = {}
    for label, (version, check) in cases.items():
        times, right, wall = [], [], []
        for _ in range(trials):
            _wait_healthy(target)
            t0 = time.monotonic()
            res = _gameday("canary", version, "--json", settings=settings)
            wall.append(time.monotonic() - t0)
            abort_all(Ledger(target.state.ledger))
            try:
                report = json.loads(res.stdout)
            except json.JSONDecodeError:
                right.append(False)
                continue
            steps = report.get("steps") or [{}]
            checks = (steps[0].get("verdict") or {}).get("checks") or {}
            right.append(report.get("outcome") == "rolled back" and len(steps) == 1 and checks.get(check) == "worse")
            if report.get("decision_s") is not None:
                times.append(report["decision_s"])
        out[label] = {"decision_s_median": median(times), "decision_s_worst": round(max(times), 3) if times else None,
                      "all_s": [round(t, 3) for t in times], "right_decisions": f"{sum(right)}/{len(right)}",
                      "wall_s_median": median(wall)}
    return out


# --- helpers ----------------------------------------------------------------------------------
def _first_read_path(settings: Settings) -> str:
    """The first endpoint of the profile that needs no captured value (what a user can always request)."""
    return next(e.path for e in settings.service.endpoints if not e.placeholder_names())


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


# --- 8. stop conditions: from the condition holding to every fault undone --------------------------------
def bench_stop(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """A game day whose resolution never comes (postgres-down without it), ended by ``--stop-on outage:3s``:
    seconds from the moment the outage passed its limit to the ledger holding none of the run's faults."""
    from gameday.chaos import lint
    from gameday.guard.stops import with_specs
    from gameday.run.session import GameDay, GameDayOptions

    experiment = json.loads(lint.resolve("postgres-down", settings.service.runbook).read_text())
    experiment["method"] = [a for a in experiment["method"]
                            if a["provider"].get("func") not in ("start_dependency", "wait_until_healthy")]
    experiment["method"][0]["pauses"] = {"after": 60}
    rows = []
    with tempfile.TemporaryDirectory(prefix="gameday-bench-stop-") as tmp:
        path = Path(tmp) / "postgres-down-no-resolution.json"
        path.write_text(json.dumps(experiment))
        for _ in range(trials):
            _wait_healthy(target)
            options = GameDayOptions(experiments=[str(path)], baseline_s=2, reports_dir=Path(tmp) / "reports",
                                     live=False, wait_for_alert=False,
                                     stop_conditions=with_specs(settings.stop_conditions, ["outage:3s"]))
            report = GameDay(settings, options, target).run().report
            stop = (report.get("stopped") or [{}])[0]
            rows.append({"status": report["status"], "held_to_undone_s": stop.get("held_to_undone_s"),
                         "fired_after_held_s": delta(stop.get("held_at"), stop.get("fired_at"))})
        halts = [_halt_trial(target, settings, path) for _ in range(trials)]
    done = [r["held_to_undone_s"] for r in rows if r["held_to_undone_s"] is not None]
    undone = [h["faults_undone_s"] for h in halts if h.get("faults_undone_s") is not None]
    walls = [h["command_s"] for h in halts if h.get("command_s") is not None]
    return {"runs": rows, "held_to_undone_s_median": median(done), "held_to_undone_s_worst": max(done, default=None),
            "halts": halts, "halt_faults_undone_s_median": median(undone), "halt_command_s_median": median(walls)}


def _halt_trial(target: LocalTarget, settings: Settings, experiment: Path) -> dict[str, Any]:
    """``gameday halt`` from a second shell while a frozen (SIGSTOP) game day holds its fault: the command's wall
    time (interpreter start included) and its own 'faults undone in' figure."""
    ledger = Ledger(target.state.ledger)
    _wait_healthy(target)
    run = subprocess.Popen([sys.executable, "-m", "gameday.cli", "run", "--no-live", "--no-alert-wait", "--baseline",
                            "2", "--reports-dir", str(experiment.parent / "reports"), str(experiment)],
                           env={**os.environ, "GAMEDAY_STATE_DIR": str(settings.state_dir)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: any(e.kind == "fault" and e.state == "injected" for e in ledger.entries()), 120)
        run.send_signal(19)  # SIGSTOP: the run cannot clean up after itself
        t0 = time.monotonic()
        halted = _gameday("halt", "--reason", "bench", settings=settings)
        wall = time.monotonic() - t0
        found = re.search(r"faults undone in (\d+\.\d+)s", halted.stdout)
        return {"command_s": round(wall, 2), "faults_undone_s": float(found[1]) if found else None,
                "exit_code": halted.returncode}
    finally:
        run.kill()
        run.wait(10)
        _gameday("resume", settings=settings)
        abort_all(ledger)


BENCHES: dict[str, Callable[[LocalTarget, Settings, int], dict[str, Any]]] = {
    "smoke": bench_smoke,
    "detection": bench_detection,
    "fidelity": bench_fidelity,
    "headroom": bench_headroom,
    "recovery": bench_recovery,
    "gameday": bench_gameday,
    "second-service": bench_second_service,
    "regression": bench_regression,
    "stop": bench_stop,
    "canary": bench_canary,
}
DEFAULT_TRIALS = {"smoke": 3, "detection": 10, "fidelity": 3, "headroom": 3, "recovery": 3, "gameday": 1,
                  "second-service": 1,
                  "regression": 10, "stop": 3, "canary": 3}


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
            started, measured_at = time.monotonic(), datetime.now().isoformat(timespec="seconds")
            figures = BENCHES[name](target, settings, trials)
            results[name] = figures | {"bench_wall_s": round(time.monotonic() - started), "measured_at": measured_at}
            results_path.write_text(json.dumps(results, indent=2, default=str))
    finally:
        local_stack.down(settings)
    (HERE / "results.md").write_text(render_markdown(results))
    print((HERE / "results.md").read_text())
    return 0


def render_markdown(r: dict[str, Any]) -> str:
    """The results as a markdown table for the README."""
    m = r.get("machine", {})
    # `--only` reruns some benchmarks and keeps the others' figures: each says when it was measured
    when: dict[str, list[str]] = {}
    for name in BENCHES:
        if isinstance(r.get(name), dict):
            when.setdefault(str(r[name].get("measured_at") or m.get("date", "?")), []).append(name)
    dates = "; ".join(f"{', '.join(names)} at {date}" for date, names in sorted(when.items()))
    lines = [f"Measured on {m.get('cpus', '?')} cores, Python {m.get('python', '?')} (`make bench`; medians): "
             f"{dates}.", "", "| figure | measured | target |", "|---|---|---|"]
    if s := r.get("smoke"):
        lines.append(f"| smoke: time to verdict | {s.get('verdict_s_median')} s (the command, start to exit: "
                     f"{s['wall_s_median']} s; canary defaults: {s['canary_defaults_s']} s) | ≤ 2 s |")
        if "healthy_passed_of_20" in s:
            lines.append(f"| smoke: healthy stack passes / a critical dependency frozen (SIGSTOP) fails naming it | "
                         f"{s['healthy_passed_of_20']}/20, {s['frozen_database_failed_naming_it_of_10']}/10 "
                         "| 20/20, 10/10 |")
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
    if (rg := r.get("regression")) and rg.get("judged"):
        rec = rg["figures"]["recover"]
        lines.append(f"| regression gate: false positives on unchanged runs | {rg['false_positives']}/{rg['judged']} "
                     f"({rg['passed_runs']} passed {rg['experiment']} runs; recover median {rec['median_s']} s, "
                     f"threshold {rec['threshold_s']} s) | 0 |")
    if (st := r.get("stop")) and st.get("held_to_undone_s_median") is not None:
        lines.append(f"| stop condition: holding → every fault undone | median {st['held_to_undone_s_median']} s, "
                     f"worst {st['held_to_undone_s_worst']} s ({len(st['runs'])} runs) | ≤ 2 s |")
        if st.get("halt_faults_undone_s_median") is not None:
            lines.append(f"| `gameday halt` of a frozen run: faults undone / the command, start to exit | "
                         f"{st['halt_faults_undone_s_median']} s / {st['halt_command_s_median']} s | ≤ 2 s |")
    goals = {"bad release": "≤ 15 s", "slow release": "≤ 30 s"}
    for label, c in (r.get("canary") or {}).items():
        if isinstance(c, dict) and "decision_s_median" in c:
            lines.append(f"| canary: {label}, first canary request to rollback decision | median "
                         f"{c['decision_s_median']} s, worst {c['decision_s_worst']} s ({c['right_decisions']} right "
                         f"decisions; Flagger's default analysis: {CANARY_INTERVAL_S * CANARY_CHECKS} s) | "
                         f"{goals.get(label, '–')} |")
    for key, title in (("gameday", "ecommerce-backend (the default profile)"),
                       ("second-service", "ticket-office (profiles/ticket-office.yaml)")):
        g = r.get(key) or {}
        if not g.get("experiments"):
            continue
        right = sum(1 for e in g["experiments"].values() if e.get("diagnosis_right"))
        lines += ["", f"Game day of {title}: exit {g['exit_code']}, {g['wall_s']} s, diagnoses right {right}/"
                  f"{len(g['experiments'])}; per experiment and phase (seconds):", "",
                  "| experiment | status | diagnosis | steady+inject | detect | diagnose | resolve | verify | total |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, e in g["experiments"].items():
            vals = [e.get(k) for k in ("steady state + injection", "detection",
                                       "diagnosis (incl. waiting for the page)", "resolution", "verification",
                                       "total")]
            lines.append(f"| {name} | {e['status']} | {e.get('diagnosis') or '–'} | "
                         + " | ".join("–" if v is None else f"{v}" for v in vals) + " |")
        for name, reason in (g.get("skipped") or {}).items():
            lines.append(f"| {name} | skipped | {reason} | – | – | – | – | – | – |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
