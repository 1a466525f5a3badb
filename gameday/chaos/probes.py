"""Probes of the gameday chaostoolkit extension: the runbook's Verification and Symptoms, measured.

Steady-state probes return a mapping with ``ok`` (experiments use the tolerance
``{"type": "jsonpath", "path": "$.ok", "expect": true}``) so the journal keeps the numbers behind it.
Method probes assert: they poll until what the runbook (or its Prevention section) claims is seen, and
raise with one line naming what was not seen when their deadline passes; a raised probe is a failed
activity in the journal, which :func:`gameday.chaos.journal.verdict_from_journal` reads as a failure.

This module is the probes' namespace for experiments (``gameday.chaos.probes.<name>``): the steady state's and the
diagnosis's probes live here, the Symptoms' in :mod:`gameday.chaos.symptom_probes` and the dependency promises' in
:mod:`gameday.chaos.promise_probes`. Each probe takes the run's context from chaostoolkit's ``configuration``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from gameday import interrupts
from gameday.calls import Client, exercise
from gameday.chaos.context import Configuration, foreign_entries, ledger, run_context
from gameday.chaos.probe_state import RUN
from gameday.chaos.probe_state import ProbeFailed as ProbeFailed  # the failure experiments' journals name
from gameday.chaos.probe_state import method_started as method_started  # the runner's
from gameday.chaos.probe_state import reset_run_state as reset_run_state  # the runner's
from gameday.chaos.promise_probes import (
    breaker_fails_fast,
    fallback_as_promised,
    recovers_within_slo,
    retries_absorb_resets,
)
from gameday.chaos.symptom_probes import degraded_but_serving, events_delivered, outage_symptoms_observed
from gameday.context import LOAD_KEY, RunContext
from gameday.errors import UsageError
from gameday.load.burst import MAX_REQUESTS, MAX_USERS, Burst
from gameday.load.timeline import Timeline
from gameday.profile import Profile
from gameday.verify.checklist import check_dependencies as check_all_dependencies
from gameday.verify.measurements import LoadWindow
from gameday.verify.verdicts import Status, load_decided, measured_error_rate_verdict, response_time_verdict

__all__ = [
    "breaker_fails_fast",
    "check_dependencies",
    "degraded_but_serving",
    "events_delivered",
    "fallback_as_promised",
    "health_checks_pass",
    "load_within_slo",
    "no_faults_from_other_runs",
    "outage_symptoms_observed",
    "recent_events",
    "recovers_within_slo",
    "replica_logs",
    "retries_absorb_resets",
    "rollout_history",
    "service_status",
    "smoke_endpoints_answer",
]

_RUN = RUN  # the run's state under the name the tests knew it by

# the newest second of a running load older than this (it ended before now by more than locust's write lag): stale,
# no evidence of the present
RECENT_FRESH_S = 3.0
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|Traceback|refused|unavailable)\b", re.IGNORECASE)


# --- steady state ------------------------------------------------------------------------------------
def health_checks_pass(*, configuration: Configuration = None) -> dict[str, Any]:
    """Every replica ready, the readiness path answers, every dependency answers (runbook: Health checks pass)."""
    return health_checks(run_context(configuration))


def health_checks(ctx: RunContext) -> dict[str, Any]:
    """:func:`health_checks_pass` in a context (the recovery's proofs ask it again and again)."""
    target, profile = ctx.target, ctx.profile
    replicas = target.replicas()
    readiness = readiness_answers(ctx)
    deps = check_all_dependencies(target, profile)
    ok = bool(replicas) and all(r.ready for r in replicas) and readiness["ok"] and all(c.ok for c in deps.values())
    return {
        "ok": ok,
        "replicas": [{"name": r.name, "phase": r.phase, "ready": r.ready} for r in replicas],
        "readiness": readiness["readiness"],
        "dependencies": {n: {"ok": c.ok, "detail": c.detail} for n, c in deps.items()},
    }


def readiness_answers(ctx: RunContext) -> dict[str, Any]:
    """The readiness path once through the load balancer (which asks one replica): the part of the health checks
    that differs from replica to replica."""
    target = ctx.target
    with Client(target.base_url(), target.answer_timeout_s()) as client:
        readiness = client.get(ctx.profile.service.readiness_path, name="readiness")
    return {"ok": readiness.ok, "readiness": {**readiness.to_dict(), "body": readiness.body}}


def smoke(ctx: RunContext) -> tuple[list[str], list[str], dict[str, Any]]:
    """Every endpoint and journey of the profile, once, through the load balancer, waiting as the target's clients
    do (as the checklist's and the background load's: beyond its LB's): the calls that did not answer as expected,
    every call described, and the values the setup journey captured."""
    results, values = exercise(ctx.profile, ctx.target.base_url(), ctx.target.answer_timeout_s())
    described = [(r.ok, r.describe()) for r in results]
    return [text for ok, text in described if not ok], [text for _, text in described], values


def smoke_endpoints_answer(*, configuration: Configuration = None) -> dict[str, Any]:
    """Every endpoint and every journey of the profile answers as expected (the setup journey's captures kept)."""
    failed, results, RUN["values"] = smoke(run_context(configuration))
    return {"ok": not failed, "failed": failed, "results": results}


def load_within_slo(window_s: float | None = None, *, configuration: Configuration = None) -> dict[str, Any]:
    """Error rate below the SLO's and the p95 of the successful requests normal (SLO, and the baseline of this run),
    measured under the profile's own load (:func:`measure_steady_load`) until the error rate is decided at the SLO,
    for at most ``window_s`` (default: the profile's ``verify.window_s``). Undecided at that cap is "inconclusive",
    not ok: no data is never a pass.

    A load whose only fault is its latency is measured once more, and the second one judges: a steady state is a
    state, and one measurement of a second or two can land on a neighbour's spike on a shared machine (the reasoning
    of an alert's ``for:``). The first one stays in the output (``first_burst``). Errors are never measured again: a
    failed request is a failure whatever else runs on the machine.

    In a game day, before the method, the load the service is already under comes first: the game day's own
    background load (the profile's users, through the load balancer, as users reach it), its most recent seconds
    (:func:`recent_load`). When they pass both verdicts the steady state holds without a burst of its own, as an
    on-call engineer reads the last minutes of the dashboard before touching anything; anything else (undecided,
    failing, stale, no background load) is measured by the burst as without it. After the method the burst always
    judges: the background's recent seconds then hold the outage.
    """
    ctx = run_context(configuration)
    profile, knobs, target = ctx.profile, ctx.settings.slo, ctx.target
    cap = profile.verify.window_s if window_s is None else window_s
    if not 1 <= cap <= 600:
        raise UsageError(f"load_within_slo: window_s 1-600, got {cap:g}")
    handed = (configuration or {}).get(LOAD_KEY)
    handed = handed if isinstance(handed, dict) else {}
    if handed.get("timeline") and not RUN.get("method_started"):
        recent = recent_load(Timeline.read(handed["timeline"]), time.time(), profile, cap, knobs.confidence,
                             baseline_p95_ms=handed.get("baseline_p95_ms"), tolerance=knobs.baseline_tolerance,
                             slack_ms=knobs.baseline_slack_ms, baseline_spread_ms=handed.get("baseline_spread_ms"))
        if recent is not None and recent["ok"]:
            return recent
    base_url = target.base_url()
    # the baseline of this run's first burst, else the game day's burst baseline (measured before any fault)
    baseline = (RUN.get("baseline_p95_ms"), RUN.get("baseline_spread_ms")) if "baseline_p95_ms" in RUN else (
        handed.get("burst_p95_ms"), handed.get("burst_spread_ms"))
    result = slow_burst_measured_again(lambda: measure_steady_load(
        profile, base_url, cap, knobs.confidence, baseline_p95_ms=baseline[0],
        tolerance=knobs.baseline_tolerance, slack_ms=knobs.baseline_slack_ms,
        request_timeout_s=target.answer_timeout_s(), baseline_spread_ms=baseline[1]))
    if result["ok"] and RUN.get("baseline_p95_ms") is None:
        RUN["baseline_p95_ms"] = result["p95_ms"]
        RUN["baseline_spread_ms"] = result["spread_ms"]  # its own noise: the slack of later latency verdicts
    return result


def slow_burst_measured_again(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``measure()``, and once more when its errors were fine but its latency was not: the second one judges."""
    result = measure()
    if result["errors_ok"] and not result["latency_ok"]:
        first = {k: result.get(k) for k in ("p95_ms", "duration_s", "reason", "latency_verdict")}
        result = {**measure(), "first_burst": first}
    return result


def measure_steady_load(profile: Profile, base_url: str, window_s: float, confidence: float = 0.95,
                        baseline_p95_ms: float | None = None, tolerance: float = 2.0,
                        slack_ms: float = 50.0, request_timeout_s: float | None = None,
                        baseline_spread_ms: float | None = None) -> dict[str, Any]:
    """The profile's users running its mix (and its think time with ``verify.think_time``) against ``base_url``
    until :func:`~gameday.verify.verdicts.load_decided` or ``window_s``, judged on what the service answered.

    ``ok`` needs the error-rate verdict to pass (an inconclusive one is not ok, and ``reason`` says
    "inconclusive: ..." with its numbers) and the latency of the successful requests to be normal. What the load
    generator planned and did not send is in ``not_sent`` (by why), never in ``requests`` or ``failures``.
    """
    max_rate = profile.slo.max_error_rate
    think = profile.load.think_time_s if profile.verify.think_time else None
    # default: the longest request timeout of the profile; the target's clients' wait when given (the load balancer's
    # timeout and beyond: a heavy page queued for seconds is slow, which the latency verdict judges, not failed)
    timeout_s = request_timeout_s or max(r.timeout_s for r in [*profile.endpoints,
                                                               *(s for j in profile.journeys for s in j.steps)])
    started = time.monotonic()
    burst = Burst(profile, base_url, min(profile.load.users, MAX_USERS), max_requests=MAX_REQUESTS,
                  max_seconds=window_s, timeout_s=timeout_s, think_time_s=think).start()
    try:
        while burst.running():
            now = burst.timeline()
            if load_decided(now.requests, now.failures, max_rate, confidence):
                break
            interrupts.pause(0.05)  # poll (a safe point)
    finally:
        timeline = burst.stop()
    return judge_load(timeline, time.monotonic() - started, window_s, burst.not_sent(), profile, confidence,
                      baseline_p95_ms=baseline_p95_ms, tolerance=tolerance, slack_ms=slack_ms,
                      baseline_spread_ms=baseline_spread_ms)


def recent_load(timeline: Timeline, now: float, profile: Profile, cap_s: float, confidence: float = 0.95,
                baseline_p95_ms: float | None = None, tolerance: float = 2.0, slack_ms: float = 50.0,
                baseline_spread_ms: float | None = None) -> dict[str, Any] | None:
    """The steady state judged on the most recent seconds of a load already running (``timeline``): the fewest
    whole seconds back from its newest that decide the error-rate verdict (at most ``cap_s``), judged as a burst is
    (:func:`judge_load`; latency against the baseline of *that* load). None when they cannot be judged: no second
    newer than :data:`RECENT_FRESH_S` (the load stalled, or ended), or undecided within ``cap_s``."""
    if not timeline.seconds or now - (timeline.seconds[-1].t + 1) > RECENT_FRESH_S:
        return None
    end = timeline.seconds[-1].t + 1
    recent = {s.t: s for s in timeline.seconds if s.t >= end - cap_s}
    requests = failures = 0
    for back in range(1, int(cap_s) + 1):
        second = recent.get(end - back)  # a second with no request completed has no line
        if second is not None:
            requests, failures = requests + second.requests, failures + second.failures
        if load_decided(requests, failures, profile.slo.max_error_rate, confidence):
            window = timeline.window(end - back, end)
            judged = judge_load(window, float(back), cap_s, {}, profile, confidence, baseline_p95_ms=baseline_p95_ms,
                                tolerance=tolerance, slack_ms=slack_ms, baseline_spread_ms=baseline_spread_ms)
            return {**judged, "source": f"the game day's background load, its last {back} s (to {end:.0f})"}
    return None


def judge_load(timeline: Timeline, duration: float, window_s: float, not_sent: dict[str, int], profile: Profile,
               confidence: float = 0.95, baseline_p95_ms: float | None = None, tolerance: float = 2.0,
               slack_ms: float = 50.0, baseline_spread_ms: float | None = None) -> dict[str, Any]:
    """A measured load's verdicts: its error rate at the SLO (on what the service answered) and the response time
    of its successful requests (SLO, and ``baseline_p95_ms``), with the figures they were decided on."""
    max_rate = profile.slo.max_error_rate
    pct = f"{max_rate:.0%}" if (max_rate * 100).is_integer() else f"{max_rate:.2%}"
    errors = measured_error_rate_verdict(
        timeline.requests, timeline.failures, duration, window_s, max_rate, confidence,
        not_sent=sum(not_sent.values()), name=f"error rate < {pct}")
    latency = response_time_verdict(
        timeline.ok_p95, timeline.successes, profile.slo.p95_ms,
        baseline_p95_ms=baseline_p95_ms, tolerance=tolerance, slack_ms=slack_ms,
        baseline_spread_ms=baseline_spread_ms,
    )
    seen = timeline.errors()
    reasons = []
    if errors.status is Status.INCONCLUSIVE:
        reasons.append(errors.explanation)
    elif errors.status is Status.FAIL:
        reasons.append(f"errors: {errors.explanation}" + (f" (most: {next(iter(seen))})" if seen else ""))
    if not latency.passed:
        reasons.append(f"latency: {latency.explanation}")
    return {
        "ok": not reasons,
        "errors_ok": errors.passed,
        "latency_ok": latency.passed,
        **({"reason": "; ".join(reasons)} if reasons else {}),
        "verdict": errors.status.value,
        "requests": timeline.requests,
        "failures": timeline.failures,
        "error_rate": errors.measured["error_rate"],
        "not_sent": sum(not_sent.values()),
        "not_sent_why": not_sent,
        "p95_ms": timeline.ok_p95,
        "spread_ms": LoadWindow.from_timeline(timeline).ok_spread_ms,
        "duration_s": round(duration, 3),
        "window_s": window_s,
        "request_rate_rps": round(timeline.requests / duration, 2) if duration > 0 else None,
        "errors": seen,
        "error_rate_verdict": errors.to_dict(),
        "latency_verdict": latency.to_dict(),
    }


def no_faults_from_other_runs(*, configuration: Configuration = None) -> dict[str, Any]:
    """No fault left in the ledger by another run (a killed run's faults must be undone with 'gameday abort')."""
    foreign = foreign_entries(ledger(run_context(configuration).settings))
    return {"ok": not foreign, "entries": [e.describe() for e in foreign]}



# --- diagnosis (runbook steps 1-3 and "check pod logs") ---------------------------------------------
def service_status(*, configuration: Configuration = None) -> dict[str, Any]:
    """The runbook's step 1: pods (replicas), the Service's endpoints and the load balancer."""
    target = run_context(configuration).target
    return {
        "replicas": [{"name": r.name, "phase": r.phase, "ready": r.ready, "restarts": r.restarts}
                     for r in target.replicas()],
        "endpoints": [asdict(e) for e in target.endpoints()],
        "load_balancer": asdict(target.load_balancer()),
    }


def replica_logs(tail: int = 100, *, configuration: Configuration = None) -> dict[str, Any]:
    """The deployment's last log lines (kubectl logs deployment/... --tail=100): how many, errors, the last few."""
    lines = run_context(configuration).target.logs(None, tail)
    errors = [line for line in lines if ERROR_LINE.search(line)]
    return {"lines": len(lines), "error_lines": len(errors), "last_errors": errors[-5:], "last": lines[-5:]}


def rollout_history(last: int = 5, *, configuration: Configuration = None) -> list[dict[str, Any]]:
    """The newest entries of the rollout history (kubectl rollout history)."""
    return [asdict(r) for r in run_context(configuration).target.history()[-last:]]


def recent_events(limit: int = 20, *, configuration: Configuration = None) -> list[dict[str, Any]]:
    """Recent events, oldest first (kubectl get events --sort-by=.lastTimestamp)."""
    return [asdict(e) for e in run_context(configuration).target.events(limit)]


def check_dependencies(expect_down: list[str] | None = None, *, configuration: Configuration = None) -> dict[str, Any]:
    """The runbook's step 3 for every dependency of the profile; raise if an expected-down one answers."""
    ctx = run_context(configuration)
    profile = ctx.profile
    for name in expect_down or []:
        profile.dependency(name)  # UsageError naming the known ones
    checks = check_all_dependencies(ctx.target, profile)
    answering = [d for d in expect_down or [] if checks[d].ok]
    if answering:
        raise ProbeFailed(f"diagnosis does not match: {', '.join(answering)} still answers its check")
    return {name: {"ok": c.ok, "detail": c.detail, "command": c.command} for name, c in checks.items()}
