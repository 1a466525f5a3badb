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
from dataclasses import asdict
from typing import Any

import httpx

from gameday.chaos import http
from gameday.chaos.context import current_target, foreign_entries, ledger
from gameday.config import get_settings
from gameday.errors import GamedayError, UsageError
from gameday.targets.base import DEPENDENCIES
from gameday.verify.verdicts import Status, error_rate_verdict, response_time_verdict

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

SYMPTOMS = ("health_check_failing", "lb_503_504", "all_endpoints_failing", "zero_success")
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|Traceback|refused|unavailable)\b", re.IGNORECASE)

# What one run (one process) carries from probe to probe: the latency baseline measured by the first
# steady-state check, and the orders accepted during a degraded outage (to follow their events).
_RUN: dict[str, Any] = {}


class ProbeFailed(GamedayError):
    """What an experiment claims was not observed before the probe's deadline."""


def reset_run_state() -> None:
    """Forget the baseline and the orders of a previous run in this process (the runner calls it)."""
    _RUN.clear()


# --- steady state ------------------------------------------------------------------------------------
def health_checks_pass() -> dict[str, Any]:
    """Every replica ready, and the load balancer's /readyz answers 200 "ready" (runbook: Health checks pass)."""
    target = current_target()
    replicas = target.replicas()
    readyz = _get_json(target.base_url(), "/readyz")
    ok = bool(replicas) and all(r.ready for r in replicas) and readyz["status"] == 200
    ok = ok and readyz["body"].get("status") == "ready"
    return {
        "ok": ok,
        "replicas": [{"name": r.name, "phase": r.phase, "ready": r.ready} for r in replicas],
        "readyz": readyz,
    }


def smoke_endpoints_answer() -> dict[str, Any]:
    """The smoke test through the load balancer: probes, catalogue, cart and an order all answer as expected."""
    answers = http.run_in_order(current_target().base_url(), http.smoke_requests())
    failed = [f"{a.name} {a.status or a.error}" for a in answers if not a.ok]
    return {"ok": not failed, "failed": failed, "answers": [a.to_dict() for a in answers]}


def load_within_slo(requests: int = 200, concurrency: int = 4, deadline_s: float = 20.0) -> dict[str, Any]:
    """A short bounded burst: error rate below the SLO's and p95 latency normal (SLO, and baseline of this run).

    The Wilson bound of ``gameday.verify.verdicts`` needs ~381 requests to *prove* < 1% at 95%; a
    steady-state check of 200 requests cannot, so it passes when the measured rate is under the threshold
    and the verdict is not a FAIL (no evidence against). The verdict and its explanation are in the output.
    Requests not sent before the deadline count as failures.
    """
    if not 1 <= requests <= 2000 or not 1 <= concurrency <= 16 or not 0 < deadline_s <= 120:
        raise UsageError("load_within_slo: requests 1-2000, concurrency 1-16, deadline_s 0-120")
    slo = get_settings().slo
    result = http.burst(current_target().base_url(), requests, concurrency, deadline_s)
    failures = result.failures + (result.requested - result.sent)
    errors = error_rate_verdict(result.requested, failures, slo.max_error_rate, slo.confidence, result.duration_s)
    baseline = _RUN.get("baseline_p95_ms")
    latency = response_time_verdict(
        result.p95_ms(), len(result.latencies_ms), slo.p95_slo_ms,
        baseline_p95_ms=baseline, tolerance=slo.baseline_tolerance, slack_ms=slo.baseline_slack_ms,
    )
    rate = failures / result.requested
    ok = rate < slo.max_error_rate and errors.status is not Status.FAIL and latency.passed
    if ok and baseline is None:
        _RUN["baseline_p95_ms"] = result.p95_ms()
    return {
        "ok": ok,
        "requests": result.requested,
        "sent": result.sent,
        "failures": failures,
        "error_rate": rate,
        "p95_ms": result.p95_ms(),
        "duration_s": round(result.duration_s, 3),
        "statuses": result.statuses,
        "error_rate_verdict": errors.to_dict(),
        "latency_verdict": latency.to_dict(),
    }


def no_faults_from_other_runs() -> dict[str, Any]:
    """No fault left in the ledger by another run (a killed run's faults must be undone with 'gameday abort')."""
    foreign = foreign_entries(ledger())
    return {"ok": not foreign, "entries": [e.describe() for e in foreign]}


# --- symptoms ------------------------------------------------------------------------------------
def outage_symptoms_observed(within_s: float = 30.0, expect_codes: list[int] | None = None) -> dict[str, Any]:
    """Poll until the runbook's Symptoms all hold in one sample; raise when they do not within ``within_s``.

    Symptoms: the health check fails (no replica ready, /readyz not 200), the load balancer answers
    503/504, every API endpoint fails, and no request of the sample succeeds. ``expect_codes`` also
    requires each of those load-balancer codes to have been seen while polling (e.g. 504 then 503).
    """
    target = current_target()
    base_url = target.base_url()
    wanted = set(expect_codes or [])
    started = time.monotonic()
    first_seen: dict[str, float] = {}
    codes_seen: set[int] = set()
    samples = 0
    sample: dict[str, Any] = {}
    while True:
        samples += 1
        sample = _outage_sample(target, base_url)
        now = round(time.monotonic() - started, 2)
        codes_seen.update(c for c in sample["codes"].values() if c is not None)
        for name in SYMPTOMS:
            if sample[name]:
                first_seen.setdefault(name, now)
        if all(sample[name] for name in SYMPTOMS) and wanted <= codes_seen:
            return {
                "observed": list(SYMPTOMS),
                "after_s": now,
                "first_seen_s": first_seen,
                "lb_codes_seen": sorted(codes_seen),
                "samples": samples,
                "sample": sample,
            }
        if time.monotonic() - started >= within_s:
            break
        time.sleep(0.5)  # poll
    missing = [n for n in SYMPTOMS if not sample.get(n)] + [f"LB code {c}" for c in sorted(wanted - codes_seen)]
    raise ProbeFailed(
        f"symptoms not observed within {within_s:g}s: missing {', '.join(missing)} "
        f"(last codes {sample.get('codes')}, {samples} samples)"
    )


def _outage_sample(target: Any, base_url: str) -> dict[str, Any]:
    """One parallel sample of every endpoint (plus extra catalogue reads) and the replicas' readiness."""
    requests = http.smoke_requests()
    requests = [r for r in requests if r.name != "clear-cart"]
    requests += [http.Request(f"products-{i}", "GET", "/api/products", 200) for i in range(3)]
    answers = http.run_in_parallel(base_url, requests, timeout=5.0)
    replicas = target.replicas()
    by_name = {a.name: a for a in answers}
    api = [a for a in answers if next(r for r in requests if r.name == a.name).api]
    return {
        "health_check_failing": not any(r.ready for r in replicas) and by_name["readyz"].status != 200,
        "lb_503_504": any(a.status in (503, 504) for a in answers),
        "all_endpoints_failing": all(a.failed for a in api),
        "zero_success": not any(a.success for a in answers),
        "codes": {a.name: a.status for a in answers},
        "replicas": {r.name: r.phase for r in replicas},
    }


def degraded_but_serving(dependency: str, within_s: float = 20.0, orders: int = 3) -> dict[str, Any]:
    """The runbook's Prevention at work: /readyz 200 "degraded" naming ``dependency``, catalogue up, orders accepted.

    Polls until one sample shows all of it; the orders accepted are remembered so that
    :func:`events_delivered` can follow their events once the dependency is back.
    """
    if dependency not in DEPENDENCIES:
        raise UsageError(f"unknown dependency {dependency!r}: expected one of {', '.join(DEPENDENCIES)}")
    base_url = current_target().base_url()
    started = time.monotonic()
    unsuccessful = 0
    failing = 0
    failures_seen: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    while True:
        readyz = _get_json(base_url, "/readyz")
        item = {"product_id": 1, "quantity": 1}
        placed = http.run_in_order(base_url, [
            http.Request("products", "GET", "/api/products", 200),
            http.Request("cart", "GET", f"/api/cart/{http.SMOKE_CART}", 200),
            *[http.Request(f"order-{i}", "POST", "/api/orders", 201, {"customer": "gameday-degraded", "items": [item]})
              for i in range(orders)],
        ])
        order_answers = [a for a in placed if a.name.startswith("order-")]
        body = readyz["body"]
        degraded = readyz["status"] == 200 and body.get("status") == "degraded"
        degraded = degraded and dependency in body.get("degraded", [])
        serving = placed[0].ok and all(a.ok for a in order_answers)
        last = {"readyz": readyz, "answers": [a.to_dict() for a in placed]}
        if degraded and serving:
            ids = _order_ids(order_answers)
            _RUN.setdefault("orders_during_outage", []).extend(ids)
            return {
                "dependency": dependency,
                "after_s": round(time.monotonic() - started, 2),
                "readyz_status": body.get("status"),
                "degraded": body.get("degraded"),
                "orders_accepted": ids,
                # carts live in Redis: 503 while Redis is down is the designed degradation, not a failure
                "cart_status": placed[1].status,
                "samples_before": unsuccessful,
                "failing_samples_before": failing,
                "failures_before": failures_seen,
                "sample": last,
            }
        unsuccessful += 1
        not_ok = [[a.name, a.status or a.error] for a in placed if not a.ok and a.name != "cart"]
        if not_ok:  # requests failing before the breakers open are a finding: keep them in the journal
            failing += 1
            if len(failures_seen) < 5:
                failures_seen.append({"at_s": round(time.monotonic() - started, 2),
                                      "readyz": [readyz["status"], body.get("status")], "not_ok": not_ok})
        if time.monotonic() - started >= within_s:
            break
        time.sleep(0.5)  # poll
    raise ProbeFailed(
        f"{dependency} down: service not degraded-but-serving within {within_s:g}s "
        f"(readyz {last['readyz']['status']} {last['readyz']['body'].get('status')!r}, "
        f"answers {[(a['name'], a['status']) for a in last['answers']]})"
    )


def events_delivered(within_s: float = 30.0) -> dict[str, Any]:
    """Orders accepted during the outage get their event published once Kafka is back (kept for later)."""
    ids: list[int] = list(_RUN.get("orders_during_outage", []))
    if not ids:
        raise ProbeFailed("no order was accepted during the outage in this run: nothing to follow")
    base_url = current_target().base_url()
    started = time.monotonic()
    pending = ids
    while True:
        pending = [i for i in pending if not _get_json(base_url, f"/api/orders/{i}")["body"].get("event_published")]
        if not pending:
            return {"orders": ids, "after_s": round(time.monotonic() - started, 2)}
        if time.monotonic() - started >= within_s:
            break
        time.sleep(0.5)  # poll
    raise ProbeFailed(f"events of orders {pending} not published within {within_s:g}s after recovery")


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
    """The runbook's step 3 (pg_isready, redis-cli ping, Kafka ApiVersions); raise if an expected-down one answers."""
    unknown = [d for d in expect_down or [] if d not in DEPENDENCIES]
    if unknown:
        raise UsageError(f"unknown dependency {unknown[0]!r}: expected one of {', '.join(DEPENDENCIES)}")
    target = current_target()
    checks = {name: target.check_dependency(name) for name in DEPENDENCIES}
    answering = [d for d in expect_down or [] if checks[d].ok]
    if answering:
        raise ProbeFailed(f"diagnosis does not match: {', '.join(answering)} still answers its check")
    return {name: {"ok": c.ok, "detail": c.detail, "command": c.command} for name, c in checks.items()}


# --- helpers -------------------------------------------------------------------------------------
def _get_json(base_url: str, path: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET a JSON document: its status (None without an answer) and body ({} when not JSON)."""
    try:
        with http.client(base_url, timeout) as c:
            response = c.get(path)
    except httpx.HTTPError as exc:
        return {"status": None, "body": {}, "error": f"{type(exc).__name__}: {exc}"[:200]}
    try:
        body = response.json()
    except ValueError:
        body = {}
    return {"status": response.status_code, "body": body if isinstance(body, dict) else {"value": body}}


def _order_ids(answers: list[http.Answer]) -> list[int]:
    """The ids of the orders accepted (from their 201 answers)."""
    return [int(a.body["id"]) for a in answers if a.ok and a.body and "id" in a.body]
