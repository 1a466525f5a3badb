"""Probes of the runbook's Symptoms, and of its Prevention while a dependency is down: what users see, polled
until seen (a raised :class:`~gameday.chaos.probes.ProbeFailed` names what was not). Experiments call them as
``gameday.chaos.probes.<name>``; each takes the run's context from chaostoolkit's ``configuration``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gameday import interrupts, symptoms
from gameday.calls import Call, Client, fillable
from gameday.chaos.context import Configuration, run_context
from gameday.chaos.probe_state import RUN, ProbeFailed
from gameday.context import RunContext
from gameday.errors import UsageError
from gameday.profile import Profile, json_matches
from gameday.targets.base import Target

__all__ = ["degraded_but_serving", "events_delivered", "outage_symptoms_observed"]

EXTRA_READS = 3  # repeats of the first endpoint in a symptoms sample: one lucky answer is not "serving"
# between two samples: a sample is a round of real requests (a dozen, or every journey three times), which paces the
# polling by itself; a longer pause only adds to the experiment's time what the symptoms would have shown already
POLL_S = 0.1


def outage_symptoms_observed(within_s: float = 30.0, expect_codes: list[int] | None = None,
                             symptoms_required: list[str] | None = None,
                             *, configuration: Configuration = None) -> dict[str, Any]:
    """Poll until the runbook's outage Symptoms all hold in one sample; raise when they do not within ``within_s``
    plus the platform's own lag to show them (:meth:`Target.symptom_lag_s`: a slow service's longer timeouts).

    Symptoms (the runbook's, ``Runbook.symptoms``): the health check fails (no replica ready, the health and
    readiness paths fail), the load balancer answers 503/504, every API endpoint fails, and no request of the
    sample succeeds. ``symptoms_required`` narrows them to the ones a fault must show whatever the service (a bad
    release that passes its probes fails every API call, while its health checks still answer).
    ``expect_codes`` also requires each of those load-balancer codes to have been seen while polling (e.g. 504
    then 503). Refused connections and timeouts are recorded as seen.
    """
    return observe_outage(run_context(configuration), within_s, expect_codes, symptoms_required)


def observe_outage(ctx: RunContext, within_s: float = 30.0, expect_codes: list[int] | None = None,
                   symptoms_required: list[str] | None = None) -> dict[str, Any]:
    """:func:`outage_symptoms_observed` in a context."""
    required = tuple(symptoms_required or ctx.runbook.symptoms)
    unknown = [name for name in required if name not in symptoms.ALL]
    if unknown:
        raise ProbeFailed(f"unknown symptom {unknown[0]!r}: expected one of {', '.join(symptoms.ALL)}")
    target = ctx.target
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
            sample = _outage_sample(ctx.profile, target, client, pool)
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
            interrupts.pause(POLL_S)  # poll (a safe point)
    absent = symptoms.missing(sample.get("seen", {}), required) + [f"LB code {c}" for c in sorted(wanted - codes_seen)]
    raise ProbeFailed(
        f"symptoms not observed within {within_s:g}s: missing {', '.join(absent)} "
        f"(last codes {sample.get('codes')}, {samples} samples)"
    )


def _outage_sample(profile: Profile, target: Target, client: Client, pool: ThreadPoolExecutor) -> dict[str, Any]:
    """One parallel sample of the health paths and every endpoint (plus extra reads), and the replicas' readiness."""
    values = RUN.get("values", {})
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


def degraded_but_serving(dependency: str, within_s: float = 20.0, repeats: int = 3,
                         *, configuration: Configuration = None) -> dict[str, Any]:
    """The runbook's Prevention at work: while ``dependency`` is down the service still answers its readiness
    check, and every endpoint and journey that does not need it works (each journey ``repeats`` times).

    Polls until one sample shows all of it; the values the journeys captured are remembered so that
    :func:`events_delivered` can follow them once the dependency is back.
    """
    return observe_degraded(run_context(configuration), dependency, within_s, repeats)


def observe_degraded(ctx: RunContext, dependency: str, within_s: float = 20.0, repeats: int = 3) -> dict[str, Any]:
    """:func:`degraded_but_serving` in a context."""
    profile, target = ctx.profile, ctx.target
    endpoints, journeys = symptoms.unaffected(profile, dependency)
    if not 1 <= repeats <= 20:
        raise UsageError(f"degraded_but_serving: repeats 1-20, got {repeats}")
    values = RUN.get("values", {})
    endpoints = [e for e in endpoints if fillable(e, values)]
    started = time.monotonic()
    unsuccessful = 0
    failures_seen: list[dict[str, Any]] = []
    sample: symptoms.Degraded | None = None
    with Client(target.base_url(), target.answer_timeout_s()) as client:
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
                RUN.setdefault("captured_during_outage", []).extend(captured)
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
            interrupts.pause(POLL_S)  # poll (a safe point)
    raise ProbeFailed(
        f"{dependency} down: service not degraded-but-serving within {within_s:g}s "
        f"({'; '.join(sample.not_ok()[:3]) if sample else 'no sample'})"
    )


def events_delivered(endpoint: str, until: str, within_s: float = 30.0,
                     *, configuration: Configuration = None) -> dict[str, Any]:
    """What was accepted during the outage is completed once the dependency is back.

    For every journey that worked during the outage (:func:`degraded_but_serving`), the profile's ``endpoint``
    filled with that journey's captures answers as expected and its JSON value at ``until`` is true (an order's
    event published once Kafka returns: ``endpoint: order-lookup, until: $.event_published``).
    """
    ctx = run_context(configuration)
    target = ctx.target
    target_ep = ctx.profile.endpoint(endpoint)
    pending = [v for v in RUN.get("captured_during_outage", []) if fillable(target_ep, v)]
    if not pending:
        raise ProbeFailed(f"no journey captured what {endpoint} needs during the outage in this run: nothing to follow")
    total = len(pending)
    started = time.monotonic()
    with Client(target.base_url(), target.answer_timeout_s()) as client:
        while True:
            pending = [v for v in pending if not _holds(client.endpoint(target_ep, v), until)]
            if not pending:
                return {"followed": total, "endpoint": endpoint, "after_s": round(time.monotonic() - started, 2)}
            if time.monotonic() - started >= within_s:
                break
            interrupts.pause(POLL_S)  # poll (a safe point)
    shown = [{k: v[k] for k in sorted(target_ep.placeholder_names()) if k in v} for v in pending[:5]]
    raise ProbeFailed(f"{len(pending)}/{total} not completed within {within_s:g}s after recovery "
                      f"({endpoint} {until} not true for {shown})")


def _holds(call: Call, path: str) -> bool:
    return call.ok and call.body is not None and any(v is True for v in json_matches(path, call.body))
