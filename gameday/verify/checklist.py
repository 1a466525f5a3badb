"""The runbook's Verification checklist: each item a function of (target, measurements, settings) -> Verdict.

    - [ ] 所有 pods 都在執行       pods-running     every replica Running and ready
    - [ ] Health checks 通過       health-checks    the profile's health and readiness paths, every endpoint UP
    - [ ] API endpoints 正常回應    api-endpoints    each endpoint of the profile: its status and JSON assertions
    - [ ] Smoke tests 通過         smoke-tests      each journey of the profile, with its captures
    - [ ] 相依服務有回應            dependencies     each dependency of the profile answers a NEW connection
    - [ ] 錯誤率 < 1%              error-rate       Wilson upper bound of the measured load window's failure rate
    - [ ] 回應時間正常              response-time    p95 of the successful requests within the SLO and the baseline

Everything the service is (paths, JSON shapes, journeys, dependencies, SLO) comes from the profile
(``settings.service``); items talk to the Target interface and ``target.base_url()`` only, so they judge any
target and any service. Which items a runbook's Verification has, and in which order, is the runbook's to say (its
manifest's ``checklist``, read as ``Runbook.checklist``); this module defines what each item id checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gameday.calls import Client, setup
from gameday.config import Settings
from gameday.dependencies.base import DependencyCheck
from gameday.errors import UsageError
from gameday.profile import Profile
from gameday.targets.base import Target
from gameday.targets.model import TargetError
from gameday.verify.measurements import Measurements
from gameday.verify.restarts import Restart
from gameday.verify.verdicts import (
    MIN_LATENCY_SAMPLES,
    Status,
    Verdict,
    error_rate_verdict,
    response_time_verdict,
)

Check = Callable[[Target, Measurements, Settings], Verdict]


@dataclass(frozen=True)
class ChecklistItem:
    """One line of the runbook's Verification checklist."""

    id: str  # the item of the tag @runbook:verification:<id>
    name: str  # English
    runbook: str  # the runbook's own words
    check: Check


def _verdict(item: str, name: str, ok: bool, measured: dict[str, Any], explanation: str) -> Verdict:
    return Verdict(name, Status.PASS if ok else Status.FAIL, measured, explanation, item)


# --- 1. all pods running ------------------------------------------------------------------------
def all_pods_running(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """Every replica is Running and ready (``kubectl get pods``)."""
    name, item = "all pods running", "pods-running"
    replicas = target.replicas()
    bad = {r.name: f"{r.phase}{'' if r.ready else ', not ready'}" for r in replicas
           if r.phase != "Running" or not r.ready}
    measured = {"replicas": len(replicas), "running_ready": len(replicas) - len(bad), "not_ok": bad,
                "restarts": {r.name: r.restarts for r in replicas}}
    if not replicas:
        return _verdict(item, name, False, measured, "no replicas at all")
    text = f"{len(replicas) - len(bad)}/{len(replicas)} replicas Running and ready"
    if bad:
        text += ": " + ", ".join(f"{n} {s}" for n, s in sorted(bad.items()))
    return _verdict(item, name, not bad, measured, text)


def with_restarts(verdict: Verdict, seen: list[Restart], max_restarts: int | None) -> Verdict:
    """The "all pods running" verdict of a gate, with the restarts the platform counted during its window: each one
    named (a gate that saw a replica die must say so even when it passes), and a failure when there were more than
    the profile allows (``slo.max_restarts``; None: any number)."""
    measured = {**verdict.measured, "restarted_during_window": [r.to_dict() for r in seen],
                "max_restarts": max_restarts}
    if not seen:
        return Verdict(verdict.name, verdict.status, measured, verdict.explanation, verdict.item)
    count = sum(r.counted for r in seen)
    text = f"{verdict.explanation}; restarted during the gate: {', '.join(r.describe() for r in seen)}"
    if max_restarts is not None and count > max_restarts:
        text += f" ({count} restart{'s' if count > 1 else ''}, slo.max_restarts allows {max_restarts})"
        return Verdict(verdict.name, Status.FAIL, measured, text, verdict.item)
    return Verdict(verdict.name, verdict.status, measured, text, verdict.item)


# --- 2. health checks pass ----------------------------------------------------------------------
def health_checks_pass(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """The profile's health and readiness paths through the load balancer (enough calls to reach every replica),
    and every load-balancer endpoint UP."""
    name, item = "health checks pass", "health-checks"
    service = settings.service.service
    endpoints = target.endpoints()
    per_path = max(2, 2 * (len(endpoints) or len(target.replicas())))
    paths = [service.health_path] * per_path + [service.readiness_path] * per_path
    with Client(target.base_url(), target.answer_timeout_s()) as client, ThreadPoolExecutor(max_workers=6) as pool:
        calls = list(pool.map(client.get, paths))
    failed = [c for c in calls if not c.ok]
    down = [e.name for e in endpoints if not e.ready]
    health_ok = sum(1 for c in calls[:per_path] if c.ok)
    ready_ok = sum(1 for c in calls[per_path:] if c.ok)
    measured = {
        "health_path": service.health_path,
        "readiness_path": service.readiness_path,
        "health_ok": health_ok,
        "readiness_ok": ready_ok,
        "calls_per_path": per_path,
        "endpoints_up": len(endpoints) - len(down),
        "endpoints": len(endpoints),
        "endpoints_down": down,
        "failures": sorted({c.describe().rsplit(" in ", 1)[0] for c in failed}),
    }
    text = (f"{service.health_path} {health_ok}/{per_path} ok, {service.readiness_path} {ready_ok}/{per_path} ok, "
            f"load balancer endpoints {measured['endpoints_up']}/{len(endpoints)} UP")
    if down:
        text += f" (down: {', '.join(down)})"
    if failed:
        text += f"; e.g. {failed[0].describe()}"
    ok = not failed and not down and bool(endpoints)
    if not endpoints:
        text += "; the load balancer lists no endpoints"
    return _verdict(item, name, ok, measured, text)


# --- 3. API endpoints answer normally -----------------------------------------------------------
def api_endpoints_answer(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """Every endpoint of the profile answers with its expected status and JSON (the setup journey's captures)."""
    name, item = "API endpoints answer normally", "api-endpoints"
    profile = settings.service
    with Client(target.base_url(), target.answer_timeout_s()) as client, ThreadPoolExecutor(max_workers=6) as pool:
        run, values = setup(profile, client)
        calls = list(pool.map(lambda ep: client.endpoint(ep, values), profile.endpoints))
    results = {c.name: {"status": c.status, "expected": c.expect, "ms": round(c.elapsed_ms, 1), "ok": c.ok,
                        "error": c.error, "problems": list(c.problems)} for c in calls}
    wrong = [c.describe() for c in calls if not c.ok]
    measured: dict[str, Any] = {"endpoints": results}
    text = f"{len(calls) - len(wrong)}/{len(calls)} endpoints as expected"
    if run is not None and not run.ok:
        measured["setup"] = run.describe()
        text += f" (setup {run.describe()})"
    if wrong:
        text += ": " + "; ".join(wrong[:3])
    return _verdict(item, name, not wrong, measured, text)


# --- 4. smoke tests pass ------------------------------------------------------------------------
def smoke_tests_pass(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """Every journey of the profile, step by step, later steps using what earlier ones captured."""
    name, item = "smoke tests pass", "smoke-tests"
    journeys = settings.service.journeys
    if not journeys:
        return _verdict(item, name, False, {}, "not judged: the profile has no journey")
    with Client(target.base_url(), target.answer_timeout_s()) as client, ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda j: client.journey(j)[0], journeys))
    measured = {"journeys": {r.name: {"ok": r.ok, "steps": [c.to_dict() for c in r.calls], "of": r.steps}
                             for r in runs}}
    bad = [r for r in runs if not r.ok]
    if not bad:
        steps = sum(r.steps for r in runs)
        total = sum(c.elapsed_ms for r in runs for c in r.calls)
        return _verdict(item, name, True, measured, f"{len(runs)} journeys, {steps} steps passed in {total:.0f} ms")
    return _verdict(item, name, False, measured, "; ".join(r.describe() for r in bad[:2]))


# --- 5. dependencies answer ---------------------------------------------------------------------
def check_dependencies(target: Target, profile: Profile, timeout: float | None = None,
                       ) -> dict[str, DependencyCheck]:
    """The diagnosis' step 3 for every dependency of the profile, at once: a NEW connection from outside the
    service each (pooled connections of a frozen database still work; a new one does not), each waited for as long
    as ``timeout`` or, by default, its profile's ``check_timeout_s``."""
    def one(name: str) -> DependencyCheck:
        try:
            wait_s = profile.dependency(name).check_timeout_s if timeout is None else timeout
            return target.check_dependency(name, timeout=wait_s)
        except TargetError as exc:
            return DependencyCheck(name, False, 0.0, str(exc))

    names = [d.name for d in profile.dependencies]
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def dependencies_answer(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """Every dependency of the profile answers its check (the same checks as the diagnosis' step 3)."""
    name, item = "dependencies answer", "dependencies"
    checks = check_dependencies(target, settings.service)
    measured = {n: {"ok": c.ok, "ms": round(c.latency_s * 1000, 1), "detail": c.detail, "command": c.command}
                for n, c in checks.items()}
    if not checks:
        return _verdict(item, name, True, measured, "the profile names no dependency")
    down = [n for n, c in checks.items() if not c.ok]
    if down:
        return _verdict(item, name, False, measured,
                        "; ".join(f"{n} does not answer: {checks[n].detail}" for n in down))
    return _verdict(item, name, True, measured,
                    ", ".join(f"{n} {c.latency_s * 1000:.0f} ms" for n, c in checks.items()) + ": all answer")


# --- 5. error rate < 1% -------------------------------------------------------------------------
def error_rate_below(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """The measured load window's failure rate, decided with the Wilson bound (see verdicts)."""
    max_rate = settings.service.slo.max_error_rate
    pct = f"{max_rate:.0%}" if (max_rate * 100).is_integer() else f"{max_rate:.2%}"
    name = f"error rate < {pct}"
    if m.load is None:
        return Verdict(name, Status.INCONCLUSIVE, {}, "no load window was measured", "error-rate")
    verdict = error_rate_verdict(m.load.requests, m.load.failures, max_rate, settings.slo.confidence,
                                 m.load.duration_s, name=name, item="error-rate")
    if m.load.errors and verdict.status is not Status.PASS:
        top, count = m.load.errors[0]
        return Verdict(verdict.name, verdict.status, {**verdict.measured, "top_errors": dict(m.load.errors)},
                       f"{verdict.explanation} (most frequent: {count}x {top})", verdict.item)
    return verdict


# --- 7. response time normal --------------------------------------------------------------------
def response_time_normal(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """p95 of the load window's SUCCESSFUL requests within the SLO and the tolerance of the baseline."""
    knobs = settings.slo
    window = m.latency_window(MIN_LATENCY_SAMPLES)
    if window is None:
        return Verdict("response time normal", Status.INCONCLUSIVE, {}, "no load window was measured",
                       "response-time")
    base = m.baseline
    verdict = response_time_verdict(
        window.ok_p95_ms, window.successes, settings.service.slo.p95_ms,
        baseline_p95_ms=base.ok_p95_ms if base else None,
        tolerance=knobs.baseline_tolerance, slack_ms=knobs.baseline_slack_ms,
        baseline_samples=base.successes if base else None,
        baseline_spread_ms=base.ok_spread_ms if base else None,
    )
    if window is m.load or m.load is None:
        return verdict
    whole = f"; the whole window, gameday's own load included: p95 {m.load.ok_p95_ms or 0:.0f} ms"
    return Verdict(verdict.name, verdict.status, {**verdict.measured, "judged": "settled",
                                                  "whole_window_p95_ms": m.load.ok_p95_ms},
                   f"{verdict.explanation} (after gameday's own load ended: {window.successes} answers{whole})",
                   verdict.item)


# every item gameday can check, by id (a runbook's checklist chooses among them)
CHECKLIST: tuple[ChecklistItem, ...] = (
    ChecklistItem("pods-running", "all pods running", "所有 pods 都在執行", all_pods_running),
    ChecklistItem("health-checks", "health checks pass", "Health checks 通過", health_checks_pass),
    ChecklistItem("api-endpoints", "API endpoints answer normally", "API endpoints 正常回應", api_endpoints_answer),
    ChecklistItem("smoke-tests", "smoke tests pass", "Smoke tests 通過", smoke_tests_pass),
    ChecklistItem("dependencies", "dependencies answer", "相依服務有回應", dependencies_answer),
    ChecklistItem("error-rate", "error rate < 1%", "錯誤率 < 1%", error_rate_below),
    ChecklistItem("response-time", "response time normal", "回應時間正常", response_time_normal),
)
ITEMS: dict[str, ChecklistItem] = {i.id: i for i in CHECKLIST}
LOAD_ITEMS = ("error-rate", "response-time")  # judged on a load window; the others run while it is measured


def check_item(item_id: str, target: Target, measurements: Measurements | None = None,
               settings: Settings | None = None) -> Verdict:
    """Run one item; a target that cannot answer is a failed item (one line), never an exception."""
    item = ITEMS[item_id]
    try:
        return item.check(target, measurements or Measurements(), settings or Settings())
    except TargetError as exc:
        return Verdict(item.name, Status.FAIL, {"error": str(exc)}, f"target error: {exc}", item.id)


def run_checklist(target: Target, measurements: Measurements | None, settings: Settings | None,
                  items: Sequence[str]) -> list[Verdict]:
    """The verdicts of the items (a runbook's checklist: ``Runbook.checklist``), in the runbook's order. The items
    are asked together: each reads the service or the measured window, none changes what another reads, so the
    checklist takes its slowest item's time, not the sum."""
    unknown = [i for i in items if i not in ITEMS]
    if unknown:
        raise UsageError(f"checklist item {unknown[0]!r} unknown: expected one of {', '.join(ITEMS)}")
    chosen = list(dict.fromkeys(items))
    with ThreadPoolExecutor(max_workers=max(1, len(chosen)), thread_name_prefix="checklist") as pool:
        return list(pool.map(lambda i: check_item(i, target, measurements, settings), chosen))
