"""Probes of the gameday chaostoolkit extension: the runbook's Verification and Symptoms, measured.

Steady-state probes return a mapping with ``ok`` (experiments use the tolerance
``{"type": "jsonpath", "path": "$.ok", "expect": true}``) so the journal keeps the numbers behind it.
Method probes assert: they poll until what the runbook (or its Prevention section) claims is seen, and
raise with one line naming what was not seen when their deadline passes; a raised probe is a failed
activity in the journal, which :func:`gameday.chaos.journal.verdict_from_journal` reads as a failure.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from gameday import interrupts, symptoms
from gameday.calls import Call, Client, exercise, fillable
from gameday.chaos.context import current_target, foreign_entries, ledger
from gameday.config import get_settings
from gameday.errors import GamedayError, UsageError
from gameday.load.burst import MAX_REQUESTS, MAX_USERS, Burst
from gameday.profile import Profile, json_matches
from gameday.verify.checklist import check_dependencies as check_all_dependencies
from gameday.verify.verdicts import Status, load_decided, measured_error_rate_verdict, response_time_verdict

__all__ = [
    "check_dependencies",
    "degraded_but_serving",
    "events_delivered",
    "health_checks_pass",
    "load_within_slo",
    "no_faults_from_other_runs",
    "outage_symptoms_observed",
    "recent_events",
    "replica_logs",
    "rollout_history",
    "service_status",
    "smoke_endpoints_answer",
]

ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|Traceback|refused|unavailable)\b", re.IGNORECASE)
EXTRA_READS = 3  # repeats of the first endpoint in a symptoms sample: one lucky answer is not "serving"

# What one run (one process) carries from probe to probe: the latency baseline measured by the first
# steady-state check, the values the setup journey captured (probe paths need them), and the values of the
# journeys that worked during a degraded outage (to follow them once the dependency is back).
_RUN: dict[str, Any] = {}


class ProbeFailed(GamedayError):
    """What an experiment claims was not observed before the probe's deadline."""


def reset_run_state() -> None:
    """Forget the baseline and the captures of a previous run in this process (the runner calls it)."""
    _RUN.clear()


def _profile() -> Profile:
    return get_settings().service


# --- steady state ------------------------------------------------------------------------------------
def health_checks_pass() -> dict[str, Any]:
    """Every replica ready, the readiness path answers, every dependency answers (runbook: Health checks pass)."""
    target, profile = current_target(), _profile()
    replicas = target.replicas()
    with Client(target.base_url(), target.answer_timeout_s()) as client:
        readiness = client.get(profile.service.readiness_path, name="readiness")
    deps = check_all_dependencies(target, profile)
    ok = bool(replicas) and all(r.ready for r in replicas) and readiness.ok and all(c.ok for c in deps.values())
    return {
        "ok": ok,
        "replicas": [{"name": r.name, "phase": r.phase, "ready": r.ready} for r in replicas],
        "readiness": {**readiness.to_dict(), "body": readiness.body},
        "dependencies": {n: {"ok": c.ok, "detail": c.detail} for n, c in deps.items()},
    }


def smoke_endpoints_answer() -> dict[str, Any]:
    """Every endpoint and every journey of the profile answers as expected (the setup journey's captures kept)."""
    profile = _profile()
    results, values = exercise(profile, current_target().base_url())
    _RUN["values"] = values
    failed = [r.describe() for r in results if not r.ok]
    return {"ok": not failed, "failed": failed, "results": [r.describe() for r in results]}


def load_within_slo(window_s: float | None = None) -> dict[str, Any]:
    """Error rate below the SLO's and the p95 of the successful requests normal (SLO, and the baseline of this run),
    measured under the profile's own load (:func:`measure_steady_load`) until the error rate is decided at the SLO,
    for at most ``window_s`` (default: the profile's ``verify.window_s``). Undecided at that cap is "inconclusive",
    not ok: no data is never a pass.

    A load whose only fault is its latency is measured once more, and the second one judges: a steady state is a
    state, and one measurement of a second or two can land on a neighbour's spike on a shared machine (the reasoning
    of an alert's ``for:``). The first one stays in the output (``first_burst``). Errors are never measured again: a
    failed request is a failure whatever else runs on the machine.
    """
    profile, knobs = _profile(), get_settings().slo
    cap = profile.verify.window_s if window_s is None else window_s
    if not 1 <= cap <= 600:
        raise UsageError(f"load_within_slo: window_s 1-600, got {cap:g}")
    base_url = current_target().base_url()
    result = slow_burst_measured_again(lambda: measure_steady_load(
        profile, base_url, cap, knobs.confidence, baseline_p95_ms=_RUN.get("baseline_p95_ms"),
        tolerance=knobs.baseline_tolerance, slack_ms=knobs.baseline_slack_ms))
    if result["ok"] and _RUN.get("baseline_p95_ms") is None:
        _RUN["baseline_p95_ms"] = result["p95_ms"]
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
                        slack_ms: float = 50.0) -> dict[str, Any]:
    """The profile's users running its mix (and its think time with ``verify.think_time``) against ``base_url``
    until :func:`~gameday.verify.verdicts.load_decided` or ``window_s``, judged on what the service answered.

    ``ok`` needs the error-rate verdict to pass (an inconclusive one is not ok, and ``reason`` says
    "inconclusive: ..." with its numbers) and the latency of the successful requests to be normal. What the load
    generator planned and did not send is in ``not_sent`` (by why), never in ``requests`` or ``failures``.
    """
    max_rate = profile.slo.max_error_rate
    think = profile.load.think_time_s if profile.verify.think_time else None
    timeout_s = max(r.timeout_s for r in [*profile.endpoints, *(s for j in profile.journeys for s in j.steps)])
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
    duration = time.monotonic() - started
    not_sent = burst.not_sent()
    pct = f"{max_rate:.0%}" if (max_rate * 100).is_integer() else f"{max_rate:.2%}"
    errors = measured_error_rate_verdict(
        timeline.requests, timeline.failures, duration, window_s, max_rate, confidence,
        not_sent=sum(not_sent.values()), name=f"error rate < {pct}")
    latency = response_time_verdict(
        timeline.ok_p95, timeline.successes, profile.slo.p95_ms,
        baseline_p95_ms=baseline_p95_ms, tolerance=tolerance, slack_ms=slack_ms,
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
        "duration_s": round(duration, 3),
        "window_s": window_s,
        "request_rate_rps": round(timeline.requests / duration, 2) if duration > 0 else None,
        "errors": seen,
        "error_rate_verdict": errors.to_dict(),
        "latency_verdict": latency.to_dict(),
    }


def no_faults_from_other_runs() -> dict[str, Any]:
    """No fault left in the ledger by another run (a killed run's faults must be undone with 'gameday abort')."""
    foreign = foreign_entries(ledger())
    return {"ok": not foreign, "entries": [e.describe() for e in foreign]}


# --- symptoms ------------------------------------------------------------------------------------
def outage_symptoms_observed(within_s: float = 30.0, expect_codes: list[int] | None = None,
                             symptoms_required: list[str] | None = None) -> dict[str, Any]:
    """Poll until the runbook's outage Symptoms all hold in one sample; raise when they do not within ``within_s``
    plus the platform's own lag to show them (:meth:`Target.symptom_lag_s`: a slow service's longer timeouts).

    Symptoms (:data:`gameday.symptoms.OUTAGE`): the health check fails (no replica ready, the health and
    readiness paths fail), the load balancer answers 503/504, every API endpoint fails, and no request of the
    sample succeeds. ``symptoms_required`` narrows them to the ones a fault must show whatever the service (a bad
    release that passes its probes fails every API call, while its health checks still answer).
    ``expect_codes`` also requires each of those load-balancer codes to have been seen while polling (e.g. 504
    then 503). Refused connections and timeouts are recorded as seen.
    """
    required = tuple(symptoms_required or symptoms.OUTAGE)
    unknown = [name for name in required if name not in symptoms.ALL]
    if unknown:
        raise ProbeFailed(f"unknown symptom {unknown[0]!r}: expected one of {', '.join(symptoms.ALL)}")
    target = current_target()
    within_s += target.symptom_lag_s()  # the platform's own lag: a hang is a 504 only after the LB's timeout
    wanted = set(expect_codes or [])
    started = time.monotonic()
    first_seen: dict[str, float] = {}
    codes_seen: set[int] = set()
    samples = 0
    sample: dict[str, Any] = {}
    with Client(target.base_url(), target.answer_timeout_s()) as client, ThreadPoolExecutor(max_workers=8) as pool:
        while True:
            samples += 1
            sample = _outage_sample(target, client, pool)
            now = round(time.monotonic() - started, 2)
            codes_seen.update(c for c in sample["codes"].values() if c is not None)
            for name in symptoms.ALL:
                if sample["seen"][name]:
                    first_seen.setdefault(name, now)
            if not symptoms.missing(sample["seen"], required) and wanted <= codes_seen:
                return {
                    "observed": [n for n in symptoms.ALL if sample["seen"][n]],
                    "after_s": now,
                    "first_seen_s": first_seen,
                    "lb_codes_seen": sorted(codes_seen),
                    "samples": samples,
                    "sample": sample,
                }
            if time.monotonic() - started >= within_s:
                break
            interrupts.pause(0.5)  # poll (a safe point)
    absent = symptoms.missing(sample.get("seen", {}), required) + [f"LB code {c}" for c in sorted(wanted - codes_seen)]
    raise ProbeFailed(
        f"symptoms not observed within {within_s:g}s: missing {', '.join(absent)} "
        f"(last codes {sample.get('codes')}, {samples} samples)"
    )


def _outage_sample(target: Any, client: Client, pool: ThreadPoolExecutor) -> dict[str, Any]:
    """One parallel sample of the health paths and every endpoint (plus extra reads), and the replicas' readiness."""
    profile = _profile()
    values = _RUN.get("values", {})
    endpoints = [e for e in profile.endpoints if fillable(e, values)]
    endpoints += [endpoints[0]] * EXTRA_READS if endpoints else []
    service = profile.service
    health = [pool.submit(client.get, service.health_path, "health"),
              pool.submit(client.get, service.readiness_path, "readiness")]
    api = [pool.submit(client.endpoint, e, values) for e in endpoints]
    replicas = target.replicas()
    health_calls = [f.result() for f in health]
    api_calls = [f.result() for f in api]
    seen = symptoms.judge(health_calls, api_calls)
    seen[symptoms.HEALTH_FAILING] = seen[symptoms.HEALTH_FAILING] and not any(r.ready for r in replicas)
    return {
        "seen": seen,
        "codes": {f"{c.name}#{i}": c.status for i, c in enumerate([*health_calls, *api_calls])},
        "replicas": {r.name: r.phase for r in replicas},
    }


def degraded_but_serving(dependency: str, within_s: float = 20.0, repeats: int = 3) -> dict[str, Any]:
    """The runbook's Prevention at work: while ``dependency`` is down the service still answers its readiness
    check, and every endpoint and journey that does not need it works (each journey ``repeats`` times).

    Polls until one sample shows all of it; the values the journeys captured are remembered so that
    :func:`events_delivered` can follow them once the dependency is back.
    """
    profile = _profile()
    endpoints, journeys = symptoms.unaffected(profile, dependency)
    if not 1 <= repeats <= 20:
        raise UsageError(f"degraded_but_serving: repeats 1-20, got {repeats}")
    values = _RUN.get("values", {})
    endpoints = [e for e in endpoints if fillable(e, values)]
    started = time.monotonic()
    unsuccessful = 0
    failures_seen: list[dict[str, Any]] = []
    sample: symptoms.Degraded | None = None
    with Client(current_target().base_url(), current_target().answer_timeout_s()) as client:
        while True:
            readiness = client.get(profile.service.readiness_path, name="readiness")
            calls: list[Call] = [client.endpoint(e, values) for e in endpoints]
            captured: list[dict[str, Any]] = []
            for journey in journeys:
                for _ in range(repeats):
                    run, got = client.journey(journey)
                    calls += run.calls
                    if run.ok:
                        captured.append(got)
            sample = symptoms.Degraded(dependency, readiness, tuple(calls))
            if sample.serving:
                _RUN.setdefault("captured_during_outage", []).extend(captured)
                return {
                    "dependency": dependency,
                    "after_s": round(time.monotonic() - started, 2),
                    "unaffected": {"endpoints": [e.name for e in endpoints], "journeys": [j.name for j in journeys]},
                    "journeys_completed": len(captured),
                    "samples_before": unsuccessful,
                    "failures_before": failures_seen,
                    "sample": sample.to_dict(),
                }
            unsuccessful += 1
            if len(failures_seen) < 5:  # requests failing before the breakers open are a finding: keep them
                failures_seen.append({"at_s": round(time.monotonic() - started, 2), "not_ok": sample.not_ok()[:5]})
            if time.monotonic() - started >= within_s:
                break
            interrupts.pause(0.5)  # poll (a safe point)
    raise ProbeFailed(
        f"{dependency} down: service not degraded-but-serving within {within_s:g}s "
        f"({'; '.join(sample.not_ok()[:3]) if sample else 'no sample'})"
    )


def events_delivered(endpoint: str, until: str, within_s: float = 30.0) -> dict[str, Any]:
    """What was accepted during the outage is completed once the dependency is back.

    For every journey that worked during the outage (:func:`degraded_but_serving`), the profile's ``endpoint``
    filled with that journey's captures answers as expected and its JSON value at ``until`` is true (an order's
    event published once Kafka returns: ``endpoint: order-lookup, until: $.event_published``).
    """
    target_ep = _profile().endpoint(endpoint)
    pending = [v for v in _RUN.get("captured_during_outage", []) if fillable(target_ep, v)]
    if not pending:
        raise ProbeFailed(f"no journey captured what {endpoint} needs during the outage in this run: nothing to follow")
    total = len(pending)
    started = time.monotonic()
    with Client(current_target().base_url(), current_target().answer_timeout_s()) as client:
        while True:
            pending = [v for v in pending if not _holds(client.endpoint(target_ep, v), until)]
            if not pending:
                return {"followed": total, "endpoint": endpoint, "after_s": round(time.monotonic() - started, 2)}
            if time.monotonic() - started >= within_s:
                break
            interrupts.pause(0.5)  # poll (a safe point)
    shown = [{k: v[k] for k in sorted(target_ep.placeholder_names()) if k in v} for v in pending[:5]]
    raise ProbeFailed(f"{len(pending)}/{total} not completed within {within_s:g}s after recovery "
                      f"({endpoint} {until} not true for {shown})")


def _holds(call: Call, path: str) -> bool:
    return call.ok and call.body is not None and any(v is True for v in json_matches(path, call.body))


# --- diagnosis (runbook steps 1-3 and "check pod logs") ---------------------------------------------
def service_status() -> dict[str, Any]:
    """The runbook's step 1: pods (replicas), the Service's endpoints and the load balancer."""
    target = current_target()
    return {
        "replicas": [{"name": r.name, "phase": r.phase, "ready": r.ready, "restarts": r.restarts}
                     for r in target.replicas()],
        "endpoints": [asdict(e) for e in target.endpoints()],
        "load_balancer": asdict(target.load_balancer()),
    }


def replica_logs(tail: int = 100) -> dict[str, Any]:
    """The deployment's last log lines (kubectl logs deployment/... --tail=100): how many, errors, the last few."""
    lines = current_target().logs(None, tail)
    errors = [line for line in lines if ERROR_LINE.search(line)]
    return {"lines": len(lines), "error_lines": len(errors), "last_errors": errors[-5:], "last": lines[-5:]}


def rollout_history(last: int = 5) -> list[dict[str, Any]]:
    """The newest entries of the rollout history (kubectl rollout history)."""
    return [asdict(r) for r in current_target().history()[-last:]]


def recent_events(limit: int = 20) -> list[dict[str, Any]]:
    """Recent events, oldest first (kubectl get events --sort-by=.lastTimestamp)."""
    return [asdict(e) for e in current_target().events(limit)]


def check_dependencies(expect_down: list[str] | None = None) -> dict[str, Any]:
    """The runbook's step 3 for every dependency of the profile; raise if an expected-down one answers."""
    profile = _profile()
    for name in expect_down or []:
        profile.dependency(name)  # UsageError naming the known ones
    checks = check_all_dependencies(current_target(), profile)
    answering = [d for d in expect_down or [] if checks[d].ok]
    if answering:
        raise ProbeFailed(f"diagnosis does not match: {', '.join(answering)} still answers its check")
    return {name: {"ok": c.ok, "detail": c.detail, "command": c.command} for name, c in checks.items()}
