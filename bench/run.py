"""``make bench``: how fast and how faithfully gameday judges, on the local target.

Writes ``bench/results.json`` and ``bench/results.md``. Every figure is the median of several trials, every ratio is
computed within one trial, and every figure of a file comes from the one run that wrote it: a run starts from
nothing (it never keeps an earlier run's figures) and records the commit it measured (``git rev-parse HEAD``) and
whether a module it measures had uncommitted changes. Only a *complete* run (every benchmark, their own trial
counts, a clean tree) is quotable: ``--only`` and ``--trials`` are for working on one benchmark, and their
``results.md`` says "not quotable" in its first line, which ``tests/test_readme_figures.py`` refuses. Usage::

    python -m bench.run [--only smoke,detection,...] [--trials N]   (the names: BENCHES below)
"""

from __future__ import annotations

import argparse
import json
import math
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
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench import proxy_cost
from bench.blind import run_blind_trials, run_kube_blind_trials, trials_for
from gameday import faults
from gameday.abort import abort_all
from gameday.alerts.rules import local_rules, parse_duration
from gameday.chaos import lint
from gameday.config import Settings, use_settings
from gameday.guard.stops import with_specs
from gameday.history.gate import FIGURES, Policy, baseline, judge, threshold
from gameday.ledger import Ledger
from gameday.load.runner import LoadRun, LoadSpec
from gameday.load.timeline import percentile, round_ms
from gameday.profile import Profile
from gameday.profile import load as load_profile
from gameday.result import ExperimentResult, GameDayReport
from gameday.run.prober import Prober, outage_decided
from gameday.run.scoring import delta
from gameday.run.session import GameDay, GameDayOptions
from gameday.runbook.package import find as find_runbook
from gameday.targets.local import stack as local_stack
from gameday.targets.local.target import LocalTarget
from gameday.verify.smoke import verify

HERE = Path(__file__).resolve().parent
TRIVIAL_LOCUSTFILE = HERE / "locust_trivial.py"
REPO = HERE.parent
# A reference, never a result: the canary analysis of Flagger's documented examples (interval 1m, 5 checks)
CANARY_INTERVAL_S, CANARY_CHECKS = 60, 5
REFERENCES = [f"a canary analysis as Flagger's documentation sets it up (interval {CANARY_INTERVAL_S} s, "
              f"{CANARY_CHECKS} checks): {CANARY_INTERVAL_S * CANARY_CHECKS} s before its first verdict. A constant "
              "of another tool, quoted for scale; nothing here measured it"]


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
        abort_all(ledger, settings=settings)
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
    }


def _smoke_confidence(data: dict[str, Any]) -> dict[str, Any] | None:
    attempts = data.get("attempts") or [data]
    for attempt in attempts:
        for verdict in attempt.get("verdicts", []):
            if verdict.get("item") == "error-rate":
                return verdict.get("measured")
    return None


# --- 2. detection latency -----------------------------------------------------------------------
DETECT_WITHIN_S = 30.0  # a trial not decided by then counts as undetected (shown with what the prober saw)


def _prober_tail(prober: Prober, applied: float) -> list[str]:
    """What the prober saw after the fault, for a trial it never decided: its last probes, as text."""
    return [str(probe) for probe in prober.snapshot(applied)[-6:]]


def bench_detection(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """From the moment the fault is applied to gameday's detection decision (the prober's 2nd failed probe of one
    series; a probe fails at its own timeout: an endpoint's `timeout_s`, the health check's readiness timeout).

    The clock starts at the injection's own timestamp, the ledger entry's ``created_at``: written just before the
    fault's first change, for every fault alike. A fault that takes effect late (the bad release passes its probes and
    dies at its first API request, replica after replica as the rollout goes) is charged the time it takes to hurt:
    that is what a user waits for, and what the game day's own time to detect measures from ``injected_at``. The
    injection call's own length is kept beside it (``inject_s``).
    """
    ledger = Ledger(target.state.ledger)
    critical = settings.service.critical()
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        "every replica killed": ("kill-replicas", {"rounds": 1}),
        "every replica frozen (hang)": ("freeze-replicas", {}),
        "bad release": ("bad-release", {}),
    }
    if critical:
        cases[f"{critical[0]} stopped"] = ("stop-dependency", {"dependency": critical[0]})
    out: dict[str, Any] = {}
    for label, (fault, params) in cases.items():
        latencies, injects, undetected = [], [], []
        for _ in range(trials):
            _wait_healthy(target)
            prober = Prober.for_profile(settings.service, target.base_url(), target.health_timeout_s()).start()
            try:
                _wait(lambda p=prober: len(p.snapshot()) >= 6, 10)
                called = time.time()
                entry = faults.inject(target, ledger, fault, params)
                injects.append(time.time() - called)
                applied = entry.created_at
                try:
                    decided = _wait(lambda p=prober, t=applied: outage_decided(p.snapshot(t), t), DETECT_WITHIN_S,
                                    f"detection of {label}")
                except TimeoutError:  # a missed detection is a result, shown as such, never left out
                    undetected.append(_prober_tail(prober, applied))
                    continue
                latencies.append(decided.done - applied)
            finally:
                prober.stop()
                abort_all(ledger, settings=settings)
        out[label] = {"median_s": median(latencies) if latencies else None,
                      "worst_s": f"> {DETECT_WITHIN_S:.0f}" if undetected else round(max(latencies), 3),
                      "trials": trials, "undetected": len(undetected), "undetected_probes": undetected,
                      "all_s": [round(x, 3) for x in latencies], "inject_s_median": median(injects)}
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


def interpolated_percentile(hist: dict[int, int], q: float) -> float | None:
    """The ``q`` quantile of whole-millisecond values at sub-millisecond resolution: each value ``k`` stands for the
    requests whose true time lay around it, spread evenly over [k - w/2, k + w/2) (w: 1 ms below 100 ms, then
    locust's coarser rounding), and the quantile is read by linear interpolation inside it. Without it, a p95 of
    8-11 ms moves in steps of 9-12%, the size of the tolerance it is judged against."""
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for k in sorted(hist):
        if seen + hist[k] >= rank:
            width = 1 if k < 100 else 10 if k < 1000 else 100 if k < 10000 else 1000
            return round(k - width / 2 + width * (rank - seen) / hist[k], 3)
        seen += hist[k]
    return float(max(hist))


def _mean(hist: dict[int, int]) -> float | None:
    total = sum(hist.values())
    return round(sum(k * n for k, n in hist.items()) / total, 3) if total else None


def bench_fidelity(target: LocalTarget, settings: Settings, trials: int, seconds: float = 20) -> dict[str, Any]:
    """gameday's error rate and latency (the locust timeline) against HAProxy's own request log, same window.

    Latency at sub-millisecond resolution, as far as both sources allow. HAProxy 2.6 logs its timers in whole
    milliseconds (``%Ta``: the difference of two millisecond ticks, so each value is within 1 ms of the truth and
    unbiased) and has no sub-millisecond fetch of a request's start; gameday's timeline keeps locust's own rounding
    to whole milliseconds. Neither side has microseconds to compare, so both are compared by statistics that
    recover them: the mean (rounding errors average out: its standard error is ~0.3 ms / sqrt(N), N ~1,400 here)
    and the p95 interpolated inside its millisecond (``interpolated_percentile``). The whole-millisecond p95s are
    kept in the JSON beside them."""
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
            abort_all(ledger, settings=settings)
        result = run.wait()
        timeline = result.timeline
        start, end = timeline.start, timeline.end
        assert start is not None and end is not None
        window = timeline.window(start + 1, end)  # whole seconds, both sides
        logged = haproxy_requests(target.state.logs / "load-balancer.log", start + 1, end)
        lb_failures = sum(1 for _, status, _ in logged if status >= 500)
        ours = window.failures / window.requests if window.requests else 0.0
        theirs = lb_failures / len(logged) if logged else 0.0
        lb_hist = dict(Counter(round_ms(ms) for _, _, ms in logged))
        ours_hist = window.hist()
        p95_ours, p95_lb = interpolated_percentile(ours_hist, 0.95), interpolated_percentile(lb_hist, 0.95)
        mean_ours, mean_lb = _mean(ours_hist), _mean(lb_hist)
        rows.append({
            "requests_gameday": window.requests, "requests_haproxy": len(logged),
            "error_rate_gameday": round(ours, 5), "error_rate_haproxy": round(theirs, 5),
            "difference_pp": round(100 * (ours - theirs), 3),
            "p95_gameday_ms": p95_ours, "p95_haproxy_ms": p95_lb,
            "p95_ratio": round(p95_ours / p95_lb, 3) if p95_ours and p95_lb else None,
            "mean_gameday_ms": mean_ours, "mean_haproxy_ms": mean_lb,
            "mean_ratio": round(mean_ours / mean_lb, 3) if mean_ours and mean_lb else None,
            "p95_whole_ms_gameday": window.p95, "p95_whole_ms_haproxy": percentile(Counter(lb_hist), 0.95),
        })
    return {
        "difference_pp_median": median([abs(r["difference_pp"]) for r in rows]),
        "p95_ratio_median": median([r["p95_ratio"] for r in rows if r["p95_ratio"]]),
        "mean_ratio_median": median([r["mean_ratio"] for r in rows if r["mean_ratio"]]),
        "runs": rows,
    }


# --- 4. load generator headroom -----------------------------------------------------------------
def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_headroom(target: LocalTarget, settings: Settings, trials: int, seconds: int = 8) -> dict[str, Any]:
    """Requests/s locust (one process, so one core) drives at the health path behind the LB, against wrk; and the
    game day's own load (its users, think time and journeys) measured in the same trial, so the headroom divides two
    figures of one trial and no ratio mixes trials or runs (each ratio is computed per trial; the medians are
    those of the ratios)."""
    url = target.base_url() + settings.service.service.health_path
    wrk = shutil.which("wrk")
    rows = []
    for _ in range(trials):
        _wait_healthy(target)
        game_day = LoadRun(LoadSpec(host=target.base_url(), users=GameDayOptions().users, duration_s=seconds,
                                    wait=(0.05, 0.15), profile=settings.service.source)).start().wait()
        game_day_rps = _steady(game_day.timeline).rate_rps
        cpu0, t0 = _children_cpu_s(), time.monotonic()
        result = LoadRun(LoadSpec(host=target.base_url(), users=20, duration_s=seconds,
                                  locustfile=TRIVIAL_LOCUSTFILE)).start().wait()
        locust_cpu = (_children_cpu_s() - cpu0) / (time.monotonic() - t0)
        steady = _steady(result.timeline)
        row: dict[str, Any] = {"locust_rps": round(steady.rate_rps, 1), "locust_cpu_cores": round(locust_cpu, 2),
                               "game_day_load_rps": round(game_day_rps, 1),
                               "locust_over_game_day": round(steady.rate_rps / game_day_rps, 1) if game_day_rps
                               else None}
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
            "game_day_load_rps_median": median([r["game_day_load_rps"] for r in rows]),
            "locust_over_game_day_median": median([r["locust_over_game_day"] for r in rows
                                                   if r.get("locust_over_game_day")]),
            "ratio_wrk_over_locust_median": median([r["ratio_wrk_over_locust"] for r in rows
                                                    if r.get("ratio_wrk_over_locust")])}


def _steady(timeline: Any) -> Any:
    """The whole seconds of a load run after its first (users still starting)."""
    return timeline.window((timeline.start or 0) + 1, timeline.end)


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
            abort_all(ledger, settings=settings)
    return {"rollout_restart_s": {"median": median(restart), "all": [round(x, 2) for x in restart]},
            "rollout_undo_s": {"median": median(undo), "all": [round(x, 2) for x in undo]}}


# --- 5. game day wall time ------------------------------------------------------------------------
def bench_gameday(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """One full game day (``trials`` is not used: one run takes minutes); wall time per experiment and phase."""
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(settings.state_dir)}
    out = Path(settings.reports_dir).resolve() / "bench"
    return _game_day(env, out, lambda: abort_all(Ledger(target.state.ledger), settings=settings), settings.service)


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
        return _game_day(env, Path(settings.reports_dir).resolve() / "bench-ticket-office", lambda: gameday("abort"),
                         load_profile(SECOND_PROFILE))
    finally:
        gameday("down")


def _game_day(env: dict[str, str], out: Path, cleanup: Any, profile: Profile) -> dict[str, Any]:
    """``gameday run`` in a subprocess, as a person runs it; its report's figures per experiment and phase, and each
    experiment's overhead beyond the waits its runbook needs (``overhead``)."""
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
    report = GameDayReport.model_validate_json(written[-1].read_text())
    options = GameDayOptions()  # the run above used the defaults
    alert_for_s = alert_for(profile)
    per = {}
    for e in report.experiments:
        phases = {
            "steady state + injection": delta(e.started_at, e.injected_at),
            "detection": e.time_to_detect_s,
            "diagnosis (incl. waiting for the page)": delta(e.detected_at, e.resolution_started_at),
            "resolution": delta(e.resolution_started_at, e.recovered_at),
            "verification": delta(e.recovered_at or e.injected_at, e.verified_at),
            "total": delta(e.started_at, e.finished_at),
        }
        diagnosis = e.diagnosis
        per[e.name] = {"status": e.status, "diagnosis": diagnosis.verdict if diagnosis else None,
                       "diagnosis_right": diagnosis.correct if diagnosis else None, **phases,
                       "overhead": overhead(e, _method_end(written[-1].parent, e), alert_for_s,
                                            options.verify_window_s,
                                            promise_window_s(profile, written[-1].parent, e))}
    first = min((e.started_at for e in report.experiments if e.started_at is not None), default=None)
    last = max((e.finished_at for e in report.experiments if e.finished_at is not None), default=None)
    return {"exit_code": proc.returncode, "wall_s": round(wall, 1), "report": str(written[-1].parent),
            "baseline_rps": report.baseline.rps if report.baseline else None, "experiments": per,
            "alert_for_s": alert_for_s, "verify_window_s": options.verify_window_s, "baseline_s": options.baseline_s,
            "before_first_experiment_s": delta(report.started_at, first),
            "after_last_experiment_s": delta(last, report.finished_at),
            "skipped": {s.name: s.reason for s in report.skipped}}


def alert_for(profile: Profile) -> float | None:
    """The ``for:`` of the endpoint-down alert the local target's Prometheus evaluates for ``profile``: the wait a
    game day must spend before its page (the runbook says: act once paged)."""
    rules = yaml.safe_load(local_rules(profile, find_runbook(profile.runbook).alert_link())) or {}
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            if rule.get("alert") == profile.alerts.endpoint_down:
                return parse_duration(str(rule.get("for", "0s"))) if rule.get("for") else 0.0
    return None


def _method_end(report_dir: Path, experiment: ExperimentResult) -> float | None:
    """When the experiment's method proved recovery and its verification window opened: the report's
    ``method_ended_at`` (the steady state after and the rollbacks run inside that window, under the same load);
    for a report without it, its chaostoolkit journal's ``end``."""
    if experiment.method_ended_at is not None:
        return float(experiment.method_ended_at)
    path = report_dir / str(experiment.journal or "")
    try:
        return datetime.fromisoformat(json.loads(path.read_text())["end"]).timestamp()
    except (OSError, KeyError, TypeError, ValueError):
        return None


def promise_window_s(profile: Profile, report_dir: Path, experiment: ExperimentResult) -> float:
    """The window the profile's own promises make the experiment's method wait through: a circuit breaker's
    (``breaker_fails_fast``: the dependency's promised ``timeout_ms``, for the first request to fail on it, then
    ``opens_within_s``, during which the promise allows the breaker to be still closed: its verdict judges only what
    follows). A need of the service's, declared in its profile, like the alert's ``for:``; what the probe measures
    beyond it (``settle_s``: the breaker seen open) stays overhead. 0 when the journal cannot be read."""
    try:
        journal = json.loads((report_dir / str(experiment.journal or "")).read_text())
        method = journal["experiment"]["method"]
    except (OSError, KeyError, TypeError, ValueError):
        return 0.0
    total = 0.0
    for activity in method:
        provider = activity.get("provider") or {}
        if provider.get("func") != "breaker_fails_fast":
            continue
        dependency = (provider.get("arguments") or {}).get("dependency")
        dep = next((d for d in profile.dependencies if d.name == dependency), None)
        promises = dep.promises if dep is not None else None
        if promises is not None and promises.breaker is not None and promises.timeout_ms is not None:
            total += promises.timeout_ms / 1000 + promises.breaker.opens_within_s
    return total


# what each stretch of an experiment is, named by the events that bound it (report timestamps; ``method_end``: when
# the method proved recovery, see _method_end)
_STRETCHES = {
    ("started_at", "injected_at"): "steady state before the fault",
    ("injected_at", "alert_fired_at"): "fault to page",
    ("alert_fired_at", "resolution_started_at"): "page to resolution (diagnosis)",
    ("injected_at", "resolution_started_at"): "fault to resolution (symptoms, diagnosis)",
    ("resolution_started_at", "recovered_at"): "resolution (the service's recovery)",
    ("recovered_at", "method_end"): "after recovery (wait until every replica is healthy)",
    ("injected_at", "method_end"): "the method (fault held, checks, rollbacks)",
    ("method_end", "verified_at"): "verification",
    ("verified_at", "finished_at"): "scoring the report",
    ("method_end", "finished_at"): "verification (failed) and scoring",
}


def overhead(experiment: ExperimentResult | dict[str, Any], method_end: float | None, alert_for_s: float | None,
             verify_window_s: float, promise_window_s: float = 0.0) -> dict[str, Any]:
    """How much of one experiment's wall time is not a wait its runbook needs, and where it goes: two figures.

    *Strict* (``overhead_s``): needed are only the alert's ``for:`` (when the game day waited for the page: an
    outage that paged), the service's own recovery (resolution started to recovered, as the prober saw it), the
    window the profile's promises make the method wait through (``promise_window_s``: a breaker's timeout and
    ``opens_within_s``, :func:`promise_window_s`; in the stretch from the fault to the resolution) and the
    verification window. Everything else is overhead: the steady-state probes, the alert's lag beyond its ``for:``
    (the service taking its time to fail, the blackbox probe interval, a rate window filling, the evaluation
    interval), the wait after recovery, the verification beyond its window, scoring.

    *Beyond every measured need* (``beyond_needs_s``): the same, except that the fault-to-page stretch also needs
    the time from the injection to the alert's ``activeAt`` (``alert.active_at``: when Prometheus first saw its
    expression hold, from its own ``/api/v1/alerts`` in the same run; its ``for:`` counts from there): the service's
    own time to fail (a grace period, a rollout that replaces one replica at a time) and the monitoring's scrape and
    evaluation lag. None where the report has no ``active_at`` (an experiment that did not page)."""
    e = ExperimentResult.of(experiment)
    alert = e.alert
    paged = alert.fired_at if alert and alert.expected and e.resolution_started_at else None
    events = {"started_at": e.started_at, "injected_at": e.injected_at, "alert_fired_at": paged,
              "resolution_started_at": e.resolution_started_at, "recovered_at": e.recovered_at,
              "method_end": method_end, "verified_at": e.verified_at, "finished_at": e.finished_at}
    present = [(name, at) for name, at in events.items() if at is not None]
    needs = {("injected_at", "alert_fired_at"): alert_for_s or 0.0,
             ("injected_at", "resolution_started_at"): promise_window_s,
             ("injected_at", "method_end"): promise_window_s,
             ("resolution_started_at", "recovered_at"): math.inf,
             ("method_end", "verified_at"): verify_window_s, ("method_end", "finished_at"): verify_window_s}
    active, injected = (alert.active_at if alert else None), e.injected_at
    to_fail = max(0.0, active - injected) if paged is not None and active is not None and injected else None
    measured = {**needs, ("injected_at", "alert_fired_at"): (alert_for_s or 0.0) + (to_fail or 0.0)}
    stretches, total_needed, total_measured = [], 0.0, 0.0
    for (start, t0), (end, t1) in pairwise(present):
        length = max(0.0, t1 - t0)
        need = min(length, needs.get((start, end), 0.0))
        need_measured = min(length, measured.get((start, end), 0.0))
        total_needed += need
        total_measured += need_measured
        stretch = {"stretch": _STRETCHES.get((start, end), f"{start} to {end}"), "s": round(length, 2),
                   "needed_s": round(need, 2), "overhead_s": round(length - need, 2)}
        if to_fail is not None:
            stretch["beyond_needs_s"] = round(length - need_measured, 2)
        stretches.append(stretch)
    total = delta(e.started_at, e.finished_at) or 0.0
    out = {"total_s": round(total, 2), "needed_s": round(total_needed, 2),
           "overhead_s": round(total - total_needed, 2), "stretches": stretches}
    # an experiment that did not page needs nothing more than the strict needs: its two figures are the same
    out["service_to_fail_s"] = None if to_fail is None else round(to_fail, 2)
    out["beyond_needs_s"] = round(total - total_measured, 2) if to_fail is not None or paged is None else None
    return out


# --- 6. regression gate: false positives and detection rate ---------------------------------------------------
REGRESSION_EXPERIMENT = "all-pods-down"
REGRESSION_SLOWDOWNS = (0.25, 0.5, 1.0)  # the seeded regressions: recovery slower by +25%, +50%, +100%
# as tests/test_history_gameday.py's seeds: resolve without waiting for the page (the recovery figure without the
# alert's lag), short baseline and verification windows (they do not enter the recovery figure)
REGRESSION_OPTIONS = ("--no-live", "--no-alert-wait", "--baseline", "4", "--verify-window", "4")


def bench_regression(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """The regression gate's false-positive rate beside its detection rate, on real game days of one experiment.

    ``trials`` unchanged runs; each is judged against the others (leave one out, ``Policy`` defaults): every
    regression found is a false positive. Then seeded regressions, really slower: the experiment's resolution
    (``rollout-restart``) paused before it acts by +25%, +50% and +100% of the unchanged runs' median recovery
    (chaostoolkit's ``pauses.before``, as an on-call engineer who takes that much longer), ``max(1, trials // 4)``
    runs each, judged against the unchanged runs: a regression found is a detection."""
    policy = Policy.from_settings(settings.history)
    state = Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        failures: list[str] = []
        unchanged = [_regression_run(target, settings, state, None, failures) for _ in range(trials)]
        series = {f: [r[f] for r in unchanged if r and r.get(f) is not None] for f in FIGURES}
        judged = regressed = 0
        figures: dict[str, Any] = {}
        for figure, values in series.items():
            for i, value in enumerate(values):
                result = judge({"x": {figure: value}}, {"x": {figure: values[:i] + values[i + 1:]}}, policy)
                judged += len(result.findings) - len(result.not_enough_history)
                regressed += len(result.regressions)
            b = baseline(values, policy)
            figures[figure] = {"median_s": median(values), "mad_s": round(b.mad, 3) if b else None,
                               "threshold_s": round(threshold(b, policy, figure), 2) if b else None,
                               "all": [round(v, 2) for v in values]}
        recover = median(series["recover"])
        seeded: dict[str, Any] = {}
        for slowdown in REGRESSION_SLOWDOWNS if recover else ():
            pause = round(slowdown * recover, 2)
            rows = [_regression_run(target, settings, state, pause, failures) for _ in range(max(1, trials // 4))]
            values = [r["recover"] for r in rows if r and r.get("recover") is not None]
            found = [judge({"x": {"recover": v}}, {"x": {"recover": series["recover"]}}, policy) for v in values]
            seeded[f"+{round(slowdown * 100)}%"] = {
                "pause_s": pause, "runs": len(rows), "recover_s": [round(v, 2) for v in values],
                "judged": sum(not f.not_enough_history for f in found),
                "detected": sum(bool(f.regressions) for f in found)}
    finally:
        shutil.rmtree(state, ignore_errors=True)
    detected = sum(v["detected"] for v in seeded.values())
    judged_seeded = sum(v["judged"] for v in seeded.values())
    return {"experiment": REGRESSION_EXPERIMENT, "runs": trials, "passed_runs": sum(1 for r in unchanged if r),
            "options": " ".join(REGRESSION_OPTIONS),
            "policy": {"k": policy.k, "relative": policy.relative, "relative_verify": policy.relative_verify,
                       "absolute_s": policy.absolute_s, "min_runs": policy.min_runs},
            "judged": judged, "false_positives": regressed,
            "false_positive_rate": round(regressed / judged, 4) if judged else None, "figures": figures,
            "seeded": seeded, "seeded_detected": detected, "seeded_judged": judged_seeded, "failed_runs": failures}


def _regression_run(target: LocalTarget, settings: Settings, state: Path, pause: float | None,
                    failures: list[str]) -> dict[str, Any]:
    """One game day of the experiment (its resolution paused ``pause`` seconds first, if given): its figures, or
    an empty dict when it did not pass (the gate judges passed runs only; why it failed goes to ``failures``)."""
    experiment = REGRESSION_EXPERIMENT
    if pause is not None:
        data = json.loads(lint.resolve(REGRESSION_EXPERIMENT, settings.service.runbook).read_text())
        next(a for a in data["method"] if a["name"] == "rollout-restart")["pauses"] = {"before": pause}
        path = state / f"slow-{pause}" / f"{REGRESSION_EXPERIMENT}.json"  # same name: same expectations
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        experiment = str(path)
    _wait_healthy(target)
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(settings.state_dir),
           "GAMEDAY_HISTORY__URL": f"sqlite:///{state / 'history.db'}"}  # never the user's history
    reports = state / "reports"
    before = set(reports.glob("*/report.json"))
    proc = subprocess.run([sys.executable, "-m", "gameday.cli", "run", experiment, *REGRESSION_OPTIONS,
                           "--reports-dir", str(reports)], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    abort_all(Ledger(target.state.ledger), settings=settings)
    written = sorted(set(reports.glob("*/report.json")) - before)
    if proc.returncode != 0 or not written:
        failures.append(f"exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-300:]}")
        return {}
    exp = GameDayReport.model_validate_json(written[-1].read_text()).experiments[0]
    return {"detect": exp.time_to_detect_s, "recover": exp.time_to_recover_s, "verify": exp.time_to_verify_s}


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
            abort_all(Ledger(target.state.ledger), settings=settings)
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


def _wait(cond: Callable[[], Any], timeout: float, what: str = "bench condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)  # poll
    raise TimeoutError(f"{what} not met within {timeout:.0f}s")


def _wait_healthy(target: LocalTarget) -> None:
    if not target.wait_healthy(timeout=60):
        target.rollout_restart(wait=True)
        if not target.wait_healthy(timeout=60):
            raise RuntimeError("stack not healthy")


# --- 8. stop conditions: from the condition holding to every fault undone --------------------------------
def bench_stop(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """A game day whose resolution never comes (postgres-down without it), ended by ``--stop-on outage:3s``:
    seconds from the moment the outage passed its limit to the ledger holding none of the run's faults."""
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
            stop = (report.stopped or [{}])[0]
            rows.append({"status": report.status, "held_to_undone_s": stop.get("held_to_undone_s"),
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
        abort_all(ledger, settings=settings)


# --- 9. blind trials: outages caused by hand, named by `gameday diagnose` ----------------------------------------
def bench_blind(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """Each runbook outage caused without gameday (``bench/blind.py``: ``kill -9``, ``pg_ctl stop``, a bad release
    through supervisor's API, ...) and diagnosed: the confusion matrix (cause x verdict), the right verdicts, and the
    "healthy" verdicts on a broken stack (the one error that must never happen). ``trials``: each cause that many
    times."""
    result = run_blind_trials(target, settings, [*trials_for(target.name)] * trials)
    with tempfile.TemporaryDirectory(prefix="gameday-blind-") as work:  # each cluster trial on a settled fake
        kube = run_kube_blind_trials(Path(work), trials)
    keys = ("matrix", "right", "total", "healthy_on_broken")
    return {**{k: result[k] for k in keys}, "cases": result.get("trials"),
            "kubernetes": {**{k: kube[k] for k in keys}, "cases": kube.get("trials")}}


# --- 10. the fault proxy's cost: through its listen port vs around it -------------------------------------------
def bench_proxy_cost(target: LocalTarget, settings: Settings, trials: int) -> dict[str, Any]:
    """What the fault proxy adds (``bench/proxy_cost.py``): the game day's real traffic, pgbench and
    redis-benchmark through and around it."""
    return proxy_cost.measure(target, settings, trials, interpolated_percentile)


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
    "blind": bench_blind,
    "proxy-cost": bench_proxy_cost,
}
DEFAULT_TRIALS = {"smoke": 3, "detection": 10, "fidelity": 3, "headroom": 3, "recovery": 3, "gameday": 1,
                  "second-service": 1, "regression": 8, "stop": 3, "canary": 3, "blind": 2,
                  "proxy-cost": 3}

# What each benchmark measures: a figure is stale once one of these paths changed after the commit it was measured
# on (tests/test_readme_figures.py). Every benchmark also measures the bench's own code and the local target.
_COMMON = ("bench/run.py", "gameday/targets/local/", "gameday/targets/base.py", "gameday/config.py",
           "gameday/profile/", "gameday/calls.py", "profiles/ecommerce-backend.yaml", "sut/ecommerce_backend/")
_GAME_DAY = ("gameday/", "runbooks/", "deploy/monitoring/")  # a game day runs nearly all of gameday
MEASURES: dict[str, tuple[str, ...]] = {
    "smoke": ("gameday/verify/", "gameday/load/", "gameday/dependencies/", "gameday/faults/", "gameday/ledger.py",
              "gameday/abort.py"),
    "detection": ("gameday/run/prober.py", "gameday/symptoms.py", "gameday/faults/", "gameday/ledger.py"),
    "fidelity": ("gameday/load/", "gameday/faults/"),
    "headroom": ("gameday/load/", "bench/locust_trivial.py"),
    "recovery": ("gameday/faults/",),
    "gameday": _GAME_DAY,
    "second-service": (*_GAME_DAY, "profiles/ticket-office.yaml", "sut/ticket_office/"),
    "regression": (*_GAME_DAY, "gameday/history/"),
    "stop": ("gameday/guard/", "gameday/run/", "gameday/chaos/", "gameday/abort.py", "gameday/ledger.py",
             "gameday/faults/", "runbooks/"),
    "canary": ("gameday/canary/", "gameday/faults/", "gameday/load/"),
    "blind": ("bench/blind.py", "gameday/diagnose/", "gameday/symptoms.py", "gameday/dependencies/",
              "gameday/targets/kubernetes/", "tests/fakekube/"),
    "proxy-cost": ("bench/proxy_cost.py", "gameday/proxy/", "gameday/load/"),
}


def measured_paths(name: str) -> list[str]:
    """The paths a benchmark's figures depend on."""
    return [*_COMMON, *MEASURES[name]]


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)


def provenance(chosen: list[str], trials: int | None) -> dict[str, Any]:
    """What this run measured: the commit (``git rev-parse HEAD`` at the start), the measured paths that differ from
    it in the working tree (uncommitted), and whether it is complete: every benchmark at its own trial count, on a
    clean tree. Only a complete run may be quoted."""
    head = _git("rev-parse", "HEAD")
    commit = head.stdout.strip() if head.returncode == 0 else None
    paths = sorted({p for name in chosen for p in measured_paths(name)})
    status = _git("status", "--porcelain", "--", *paths) if commit else None
    dirty = sorted({line[3:] for line in status.stdout.splitlines()}) if status and status.returncode == 0 else []
    return {"commit": commit, "dirty": dirty, "benchmarks": chosen, "trials_override": trials,
            "complete": bool(commit) and not dirty and chosen == list(BENCHES) and trials is None,
            "started": datetime.now().isoformat(timespec="seconds")}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
            "machine": platform.machine(), "date": datetime.now().isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks on a local stack of their own and write the results (of this run only)."""
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--trials", type=int, default=None, help="override every benchmark's trial count")
    args = parser.parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BENCHES]
    if unknown:
        print(f"bench: unknown benchmark {unknown[0]!r}: expected {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    if args.trials is not None and args.trials < 1:
        print(f"bench: --trials must be at least 1, got {args.trials}", file=sys.stderr)
        return 2
    state = Path(os.environ.get("GAMEDAY_STATE_DIR", f"/var/tmp/gameday-bench-{os.getuid()}"))
    settings = use_settings(Settings(state_dir=state))
    results_path = HERE / "results.json"
    results: dict[str, Any] = {"run": provenance(chosen, args.trials), "machine": machine()}
    if not results["run"]["complete"]:
        print(f"bench: {not_quotable(results['run'])}", file=sys.stderr)
    local_stack.up(settings, runbook=find_runbook(settings.service.runbook).alert_link())
    target = LocalTarget(settings)
    try:
        for name in chosen:
            trials = args.trials or DEFAULT_TRIALS[name]
            print(f"bench {name} ({trials} trials)...", file=sys.stderr, flush=True)
            started, measured_at = time.monotonic(), datetime.now().isoformat(timespec="seconds")
            figures = BENCHES[name](target, settings, trials)
            results[name] = figures | {"bench_wall_s": round(time.monotonic() - started), "measured_at": measured_at,
                                       "trials": trials}
            results_path.write_text(json.dumps(results, indent=2, default=str))
    finally:
        local_stack.down(settings)
    results["run"]["finished"] = datetime.now().isoformat(timespec="seconds")
    results_path.write_text(json.dumps(results, indent=2, default=str))
    (HERE / "results.md").write_text(render_markdown(results))
    print((HERE / "results.md").read_text())
    return 0


def not_quotable(run: dict[str, Any]) -> str | None:
    """Why a run's figures may not be quoted, or None for a complete run."""
    if run.get("complete"):
        return None
    why = []
    if not run.get("commit"):
        why.append("no git commit")
    if run.get("dirty"):
        why.append(f"uncommitted changes in {', '.join(run['dirty'][:5])}" + (" ..." if len(run["dirty"]) > 5 else ""))
    if run.get("benchmarks") != list(BENCHES):
        why.append(f"partial (--only {','.join(run.get('benchmarks') or [])})")
    if run.get("trials_override") is not None:
        why.append(f"--trials {run['trials_override']}")
    return "NOT QUOTABLE: " + "; ".join(why or ["not a complete run"])


DETAILS = "## "  # results.md: the summary the README quotes, then the details (from the first "## " heading)


def summary(markdown: str) -> str:
    """The part of ``results.md`` the README quotes: everything before the details."""
    return markdown.split("\n" + DETAILS, 1)[0].strip() + "\n"


def render_markdown(r: dict[str, Any]) -> str:
    """The results as markdown: a summary for the README (the run's commit, the figures, the references), then the
    details (game days per experiment with their overhead, the gate's seeded regressions, the blind trials)."""
    m, run = r.get("machine", {}), r.get("run", {})
    commit = str(run.get("commit") or "unknown")[:12]
    when = f"{run.get('started', m.get('date', '?'))} to {run.get('finished', '?')}"
    head = (f"Measured in one `make bench` run on commit {commit}, {m.get('cpus', '?')} cores, Python "
            f"{m.get('python', '?')}, {when} (medians; every figure below from that run)."
            if run.get("complete") else f"{not_quotable(run)}: `python -m bench.run` on commit {commit}, {when}.")
    lines = [head, "", "| figure | measured | target |", "|---|---|---|"]
    lines += _summary_rows(r)
    lines += ["", "References, not results: " + "; ".join(REFERENCES) + "."]
    details = _details(r)
    return "\n".join(lines) + "\n" + ("\n" + "\n".join(details) + "\n" if details else "")


def _summary_rows(r: dict[str, Any]) -> list[str]:
    lines = []
    if s := r.get("smoke"):
        lines.append(f"| smoke: time to verdict | {s.get('verdict_s_median')} s (the command, start to exit: "
                     f"{s['wall_s_median']} s) | ≤ 2 s |")
        lines.append(f"| smoke: healthy stack passes / a critical dependency frozen (SIGSTOP) fails naming it | "
                     f"{s['healthy_passed_of_20']}/20, {s['frozen_database_failed_naming_it_of_10']}/10 "
                     "| 20/20, 10/10 |")
    for label, v in (r.get("detection") or {}).items():
        if isinstance(v, dict) and "median_s" in v:
            missed = f", {v['undetected']} not detected within {DETECT_WITHIN_S:.0f} s" if v.get("undetected") else ""
            lines.append(f"| detection: {label}, from the fault applied | median {v['median_s']} s, worst "
                         f"{v['worst_s']} s ({v['trials']} trials{missed}) | ≤ 1 s median, ≤ 2 s worst |")
    if f := r.get("fidelity"):
        lines.append(f"| fidelity: error rate vs HAProxy log | {f['difference_pp_median']} pp | ≤ 0.2 pp |")
        lines.append(f"| fidelity: latency gameday / HAProxy, sub-ms (p95 interpolated; mean) | "
                     f"{f['p95_ratio_median']}; {f.get('mean_ratio_median')} | within 10% |")
    if h := r.get("headroom"):
        lines.append(f"| headroom: locust on /healthz / the game day's own load, same trial | "
                     f"{h.get('locust_over_game_day_median')}× ({h['locust_rps_median']} / "
                     f"{h.get('game_day_load_rps_median')} req/s; wrk {h['wrk_rps_median']} req/s, "
                     f"{h.get('ratio_wrk_over_locust_median')}× locust) | ≥ 10× |")
    if (g := r.get("gameday")) and "wall_s" in g:
        lines.append(f"| full game day wall time | {g['wall_s']} s (exit {g['exit_code']}) | < 600 s |")
        over = [e["overhead"]["overhead_s"] for e in g.get("experiments", {}).values() if e.get("overhead")]
        if over:
            lines.append(f"| game day: overhead per experiment beyond its needed waits | median {median(over)} s, "
                         f"worst {max(over)} s ({len(over)} experiments) | < 3 s |")
        beyond = [e["overhead"].get("beyond_needs_s") for e in g.get("experiments", {}).values()
                  if e.get("overhead")]
        if beyond and None not in beyond:
            lines.append(f"| game day: overhead per experiment beyond every measured need (also the service's own "
                         f"time to fail, to the alert's `activeAt`) | median {median(beyond)} s, worst "
                         f"{max(beyond)} s | < 3 s |")
    if rc := r.get("recovery"):
        lines.append(f"| recovery: rollout restart | {rc['rollout_restart_s']['median']} s | – |")
        lines.append(f"| recovery: rollout undo after the bad release | {rc['rollout_undo_s']['median']} s | – |")
    if (rg := r.get("regression")) and "judged" in rg:
        rec = rg["figures"]["recover"]
        lines.append(f"| regression gate: false positives on unchanged runs | {rg['false_positives']}/{rg['judged']} "
                     f"({rg['passed_runs']} passed {rg['experiment']} runs; recover median {rec['median_s']} s, "
                     f"threshold {rec['threshold_s']} s) | 0 |")
        seeded = rg.get("seeded") or {}
        lines.append("| regression gate: seeded slower recoveries detected | "
                     + (", ".join(f"{k} {v['detected']}/{v['judged']}" if v["judged"] else f"{k} not judged"
                                  for k, v in seeded.items()) or "not judged")
                     + f" (all: {rg.get('seeded_detected')}/{rg.get('seeded_judged')}) "
                     "| +100%: all (the gate's floor is +50%) |")
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
                         f"decisions) | {goals.get(label, '–')} |")
    if (b := r.get("blind")) and "total" in b:
        lines.append(f"| blind trials: outages caused by hand, cause named by `gameday diagnose` (local) | "
                     f"{b['right']}/{b['total']} right, {b['healthy_on_broken']} 'healthy' on a broken stack "
                     "| all, 0 |")
        if k := b.get("kubernetes"):
            lines.append(f"| blind trials with kubectl on the fake API, each on a settled cluster | {k['right']}/"
                         f"{k['total']} right, {k['healthy_on_broken']} 'healthy' on a broken cluster | all, 0 |")
    if pc := r.get("proxy-cost"):
        lines += proxy_cost.summary_rows(pc)
    return lines


def _or_dash(value: Any) -> str:
    return "–" if value is None else f"{value}"


def _details(r: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, title in (("gameday", "ecommerce-backend (the default profile)"),
                       ("second-service", "ticket-office (profiles/ticket-office.yaml)")):
        g = r.get(key) or {}
        if not g.get("experiments"):
            continue
        right = sum(1 for e in g["experiments"].values() if e.get("diagnosis_right"))
        lines += [f"{DETAILS}Game day of {title}", "",
                  f"Exit {g['exit_code']}, {g['wall_s']} s, diagnoses right {right}/{len(g['experiments'])}; "
                  f"{g.get('before_first_experiment_s')} s before the first experiment (baseline {g.get('baseline_s')} "
                  "s). Per experiment and phase (seconds); *needed*: the alert's `for:` "
                  f"({g.get('alert_for_s')} s) when the run waited for the page, the service's own recovery, the "
                  "window its profile's promises make the method wait through (a breaker: the dependency's timeout "
                  "and `opens_within_s`; what the probe measures after it is overhead) and the "
                  f"verification window ({g.get('verify_window_s')} s); *overhead*: the rest (strict). *beyond "
                  "needs*: the overhead less the service's own time to fail as Prometheus saw it (injection to the "
                  "paging alert's `activeAt`, from its own API in the same run; the `for:` counts from there).", "",
                  "| experiment | status | diagnosis | steady+inject | detect | diagnose | resolve | verify | total "
                  "| needed | overhead | time to fail | beyond needs | largest overhead |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, e in g["experiments"].items():
            vals = [e.get(k) for k in ("steady state + injection", "detection",
                                       "diagnosis (incl. waiting for the page)", "resolution", "verification",
                                       "total")]
            o = e.get("overhead") or {}
            top = sorted(o.get("stretches", []), key=lambda x: -x["overhead_s"])[:2]
            lines.append(f"| {name} | {e['status']} | {e.get('diagnosis') or '–'} | "
                         + " | ".join("–" if v is None else f"{v}" for v in vals)
                         + f" | {o.get('needed_s', '–')} | {o.get('overhead_s', '–')} | "
                         + f"{_or_dash(o.get('service_to_fail_s'))} | {_or_dash(o.get('beyond_needs_s'))} | "
                         + "; ".join(f"{x['stretch']} {x['overhead_s']}" for x in top if x["overhead_s"] > 0) + " |")
        for name, reason in (g.get("skipped") or {}).items():
            lines.append(f"| {name} | skipped | {reason} |" + " – |" * 11)
        lines.append("")
    if (rg := r.get("regression")) and rg.get("seeded"):
        rec = rg["figures"]["recover"]
        lines += [f"{DETAILS}Regression gate on seeded regressions", "",
                  f"{rg['experiment']} (`gameday run {rg.get('options', '')}`), its resolution paused before it acts "
                  f"by a share of the unchanged runs' median recovery ({rec['median_s']} s); each slowed run judged "
                  f"against the unchanged runs (threshold {rec['threshold_s']} s; policy {rg['policy']}).", "",
                  "| seeded | pause | recover (s) | detected |", "|---|---|---|---|"]
        for k, v in rg["seeded"].items():
            lines.append(f"| {k} | {v['pause_s']} s | {', '.join(map(str, v['recover_s']))} | "
                         f"{v['detected']}/{v['judged']} |")
        lines.append("")
    blind = r.get("blind") or {}
    for where, b in (("local target", blind), ("fake Kubernetes API", blind.get("kubernetes") or {})):
        if not b.get("matrix"):
            continue
        verdicts = sorted({v for row in b["matrix"].values() for v in row})
        lines += [f"{DETAILS}Blind trials on the {where}: confusion matrix (cause × verdict)", "",
                  "| cause | " + " | ".join(verdicts) + " |", "|---|" + "---|" * len(verdicts)]
        for cause, row in b["matrix"].items():
            lines.append(f"| {cause} | " + " | ".join(str(row.get(v, 0)) for v in verdicts) + " |")
        lines.append("")
    if pc := r.get("proxy-cost"):
        lines += proxy_cost.details(pc, DETAILS)
    return lines


if __name__ == "__main__":
    sys.exit(main())
