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

import httpx

from gameday import faults, interrupts, symptoms
from gameday.calls import Call, Client, exercise, fillable
from gameday.chaos.context import current_target, foreign_entries, ledger, own_entries
from gameday.config import get_settings
from gameday.errors import GamedayError, UsageError
from gameday.faults.network import NetworkFault
from gameday.load.burst import MAX_REQUESTS, MAX_USERS, Burst
from gameday.profile import Profile, json_matches
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
    target = current_target()  # its clients' wait, as the checklist's and the background load's: beyond its LB's
    results, values = exercise(profile, target.base_url(), target.answer_timeout_s())
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
        tolerance=knobs.baseline_tolerance, slack_ms=knobs.baseline_slack_ms,
        request_timeout_s=current_target().answer_timeout_s(), baseline_spread_ms=_RUN.get("baseline_spread_ms")))
    if result["ok"] and _RUN.get("baseline_p95_ms") is None:
        _RUN["baseline_p95_ms"] = result["p95_ms"]
        _RUN["baseline_spread_ms"] = result["spread_ms"]  # its own noise: the slack of later latency verdicts
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
    duration = time.monotonic() - started
    not_sent = burst.not_sent()
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


# --- the runbook's dependency resilience (Prevention: breakers, retries, fallback), from users' side ---------------
PROMISE_WORKERS = 4  # concurrent users on the endpoints that need the faulty dependency (few: on 2 shared cores more
# back-to-back users only queue, and a fast failure's latency is then the queue's)
FLAKY_WORKERS = 8  # with a flaky one: more users, more pooled connections for the resets to meet
OTHER_WORKERS = 2  # and on those that do not
REROLL_S = 0.05  # how often the flaky fault's toxic is rolled again (every live connection rolls its share again)


def breaker_fails_fast(dependency: str, settle_s: float = 4.0) -> dict[str, Any]:
    """The dependency is slower than the service's promised timeout (the method's dependency-latency, just
    injected): requests that do not need it keep the SLO, and where a breaker is promised the failures of those
    that need it drop under ``fail_fast_ms`` (p95) within ``opens_within_s`` of the first timeout. Measured for
    ``opens_within_s + settle_s`` through the load balancer; raises with the verdict's reason."""
    from gameday.chaos import promises

    profile = _profile()
    dep = _promising(profile, dependency, "breaker")
    assert dep.promises is not None and dep.promises.breaker is not None and dep.promises.timeout_ms is not None
    breaker, timeout_ms = dep.promises.breaker, dep.promises.timeout_ms
    injected = [e.params.get("ms", 0) for e in own_entries(ledger(), "dependency-latency")
                if e.params.get("dependency") == dependency]
    if not injected or injected[-1] <= timeout_ms:
        raise ProbeFailed(f"{dependency}: no dependency-latency above its promised {timeout_ms:g} ms timeout was "
                          f"injected by this run (got {injected or 'none'}): nothing would show the breaker")
    answers = _users(profile, dependency, breaker.opens_within_s + settle_s, others=True)
    verdicts = [promises.unaffected_verdict(answers, dependency, profile.slo.p95_ms, profile.slo.max_error_rate),
                promises.breaker_verdict(answers, dependency, timeout_ms, breaker.opens_within_s,
                                         breaker.fail_fast_ms)]
    return _judged(verdicts, promises.unpromised(profile, "breaker"))


def retries_absorb_resets(dependency: str, window_s: float = 6.0) -> dict[str, Any]:
    """A fraction of the connections to the dependency are reset (the method's dependency-flaky, just injected):
    where retries are promised, users see under the SLO's error rate on the requests that need it.

    Toxiproxy decides a toxic's toxicity per connection when the toxic is added: a client's pooled connections
    that were spared would be spared for good, and a pool soon holds only those. So that the share stays at
    work, the fault's own toxic is updated (Toxiproxy's API, unchanged values) every ``REROLL_S``, which rolls it
    again on every live connection (its ledger entry and its undo unchanged): at every moment that share of the
    live connections is reset on its next request. Local target only (its fault proxy's API)."""
    from gameday.chaos import promises

    profile = _profile()
    _promising(profile, dependency, "retries")
    entries = [e for e in own_entries(ledger(), "dependency-flaky") if e.params.get("dependency") == dependency]
    if not entries:
        raise ProbeFailed(f"{dependency}: no dependency-flaky injected by this run: nothing would show the retries")
    fault = faults.get_fault("dependency-flaky")
    assert isinstance(fault, NetworkFault)
    toxic = {"name": fault.toxic_name(), **fault.toxic(entries[-1].params)}
    api = (current_target().status().to_dict().get("fault_proxy") or {}).get("api_url")
    if not api:
        raise ProbeFailed(f"{dependency}: the target has no fault proxy API to roll the resets again")
    with httpx.Client(base_url=api, timeout=2.0) as proxy:

        def reroll() -> None:  # Toxiproxy's toxic update: every live connection rolls its toxicity again
            proxy.post(f"/proxies/{dependency}/toxics/{toxic['name']}",
                       json={"toxicity": toxic["toxicity"]}).raise_for_status()

        answers = _users(profile, dependency, window_s, others=False, every=(REROLL_S, reroll),
                         workers=FLAKY_WORKERS)
    verdict = promises.retries_verdict(answers, dependency, entries[-1].params.get("fraction", 0.1),
                                       profile.slo.max_error_rate)
    return _judged([verdict], promises.unpromised(profile, "retries"))


def fallback_as_promised(dependency: str, within_s: float = 20.0) -> dict[str, Any]:
    """The dependency is unreachable (the method cut it off): the promised fallback endpoint answers exactly the
    promised fallback (status and JSON), within ``within_s``; raises with what it answered instead."""
    from gameday.chaos import promises

    profile = _profile()
    dep = _promising(profile, dependency, "fallback")
    assert dep.promises is not None and dep.promises.fallback is not None
    fallback = dep.promises.fallback
    endpoint = profile.endpoint(fallback.endpoint).model_copy(update={"expect": fallback.expect})
    values = _RUN.get("values", {})
    started = time.monotonic()
    with Client(current_target().base_url(), current_target().answer_timeout_s()) as client:
        while True:
            verdict = promises.fallback_verdict(client.endpoint(endpoint, values), dependency, fallback)
            if verdict.passed or time.monotonic() - started >= within_s:
                break
            interrupts.pause(0.25)  # poll (a safe point)
    return {**_judged([verdict], promises.unpromised(profile, "fallback")),
            "after_s": round(time.monotonic() - started, 2)}


def recovers_within_slo(dependency: str) -> dict[str, Any]:
    """After the fault on the dependency is lifted, every endpoint that needs it answers as expected again within
    the SLO's ``recover_within_s`` (a breaker that stays open is no recovery)."""
    from gameday.chaos import promises

    profile = _profile()
    values = _RUN.get("values", {})
    needing = [e for e in profile.endpoints if dependency in profile.needs(e) and fillable(e, values)]
    within = profile.slo.recover_within_s
    started = time.monotonic()
    after: float | None = None
    with Client(current_target().base_url(), current_target().answer_timeout_s()) as client:
        while time.monotonic() - started < within:
            if all(client.endpoint(e, values).ok for e in needing):
                after = round(time.monotonic() - started, 2)
                break
            interrupts.pause(0.2)  # poll (a safe point)
    return _judged([promises.recovery_verdict(dependency, after, within)], [])


def _promising(profile: Profile, dependency: str, promise: str) -> Any:
    """The dependency, when it makes ``promise``; a promise not made is a finding, never a pass: raise it."""
    from gameday.chaos import promises

    dep = profile.dependency(dependency)  # UsageError naming the known ones
    if dep.promises is None or not getattr(dep.promises, promise):
        finding = next(f for f in promises.unpromised(profile, promise) if f" for {dependency} " in f)
        raise ProbeFailed(f"{profile.service.name}: {finding}: nothing to check")
    return dep


def _judged(verdicts: list[Any], findings: list[str]) -> dict[str, Any]:
    """The verdicts as a probe's output; raise with the first one that did not pass, saying why."""
    failed = next((v for v in verdicts if not v.passed), None)
    if failed is not None:
        raise ProbeFailed(f"{failed.status.value}: {failed.name}: {failed.explanation}")
    return {"ok": True, "verdicts": [v.to_dict() for v in verdicts], "findings": findings}


def _users(profile: Profile, dependency: str, seconds: float, others: bool,
           every: tuple[float, Callable[[], None]] | None = None, workers: int = PROMISE_WORKERS) -> list[Any]:
    """Users calling, back to back, the endpoints that need ``dependency`` (and, with ``others``, those that do
    not) for ``seconds`` through the load balancer: every answer, timed from now. ``every``: (period, action) run
    in this thread meanwhile (at safe points)."""
    import threading

    from gameday.chaos.promises import Answer

    values = _RUN.get("values", {})
    needing = [e for e in profile.endpoints if dependency in profile.needs(e) and fillable(e, values)]
    if not needing:
        raise ProbeFailed(f"no endpoint of {profile.service.name} needs {dependency}: nothing to measure")
    rest = [e for e in symptoms.unaffected(profile, dependency)[0] if fillable(e, values)] if others else []
    target = current_target()
    base_url, timeout_s = target.base_url(), target.answer_timeout_s()
    started = time.monotonic()
    stop = threading.Event()
    answers: list[Answer] = []
    lock = threading.Lock()

    def user(endpoints: list[Any], needs: bool, offset: int) -> None:
        with Client(base_url, timeout_s) as client:
            i = offset
            while not stop.is_set():
                call = client.endpoint(endpoints[i % len(endpoints)], values)
                i += 1
                answer = Answer(round(time.monotonic() - started, 3), call.ok, call.elapsed_ms, needs,
                                "" if call.ok else f"{call.name} {call.status} {call.error}".strip())
                with lock:
                    answers.append(answer)

    groups = [(needing, True)] * workers + ([(rest, False)] * OTHER_WORKERS if rest else [])
    with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="promise-user") as pool:
        futures = [pool.submit(user, eps, needs, i) for i, (eps, needs) in enumerate(groups)]
        try:
            next_action = started + (every[0] if every else seconds)
            while time.monotonic() - started < seconds:
                if every and time.monotonic() >= next_action:
                    every[1]()
                    next_action += every[0]
                interrupts.pause(0.02)  # a safe point
        finally:
            stop.set()
        for future in futures:
            future.result()
    return sorted(answers, key=lambda a: a.at_s)
