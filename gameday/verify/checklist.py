"""The runbook's Verification checklist: six items, each a function of (target, measurements) -> Verdict.

    - [ ] 所有 pods 都在執行       pods-running     every replica Running and ready
    - [ ] Health checks 通過       health-checks    /healthz and /readyz through the load balancer, every endpoint UP
    - [ ] API endpoints 正常回應    api-endpoints    each smoke endpoint answers with the expected status and shape
    - [ ] Smoke tests 通過         smoke-tests      list products, view one, add to cart, place an order, read it back
    - [ ] 錯誤率 < 1%              error-rate       Wilson upper bound of the measured load window's failure rate
    - [ ] 回應時間正常              response-time    p95 within the SLO and the baseline tolerance

Items talk to the Target interface and to ``target.base_url()`` only, so they judge any target.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gameday.config import Settings, get_settings
from gameday.targets.base import Target, TargetError
from gameday.verify.measurements import Measurements
from gameday.verify.service import Call, ServiceClient
from gameday.verify.verdicts import Status, Verdict, error_rate_verdict, response_time_verdict

HTTP_TIMEOUT_S = 3.0  # longer than the load balancer's 2 s server timeout, so a hang shows as its 504
UNKNOWN_PRODUCT_ID = 2_147_483_647

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


# --- 2. health checks pass ----------------------------------------------------------------------
def health_checks_pass(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """/healthz and /readyz through the load balancer (enough calls to reach every replica), every endpoint UP."""
    name, item = "health checks pass", "health-checks"
    endpoints = target.endpoints()
    per_path = max(2, 2 * (len(endpoints) or len(target.replicas())))
    paths = ["/healthz"] * per_path + ["/readyz"] * per_path
    with ServiceClient(target.base_url(), HTTP_TIMEOUT_S) as client, ThreadPoolExecutor(max_workers=6) as pool:
        calls = list(pool.map(client.get, paths))
    failed = [c for c in calls if not c.ok]
    degraded = sum(1 for c in calls if c.path == "/readyz" and isinstance(c.body, dict)
                   and c.body.get("status") == "degraded")
    down = [e.name for e in endpoints if not e.ready]
    measured = {
        "healthz_ok": sum(1 for c in calls if c.path == "/healthz" and c.ok),
        "readyz_ok": sum(1 for c in calls if c.path == "/readyz" and c.ok),
        "calls_per_path": per_path,
        "readyz_degraded": degraded,
        "endpoints_up": len(endpoints) - len(down),
        "endpoints": len(endpoints),
        "endpoints_down": down,
        "failures": sorted({c.describe().rsplit(" in ", 1)[0] for c in failed}),
    }
    text = (f"/healthz {measured['healthz_ok']}/{per_path} ok, /readyz {measured['readyz_ok']}/{per_path} ok"
            f"{f' ({degraded} degraded)' if degraded else ''}, "
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
def _is_product(body: Any) -> bool:
    return isinstance(body, dict) and {"id", "name", "price"} <= set(body)


def _expectations(first_id: int, cart_id: str) -> list[tuple[str, int, Callable[[Any], bool], str]]:
    return [
        ("/api/products", 200, lambda b: isinstance(b, list) and bool(b) and all(_is_product(p) for p in b),
         "a non-empty list of products"),
        (f"/api/products/{first_id}", 200, lambda b: _is_product(b) and b["id"] == first_id, "that product"),
        (f"/api/products/{UNKNOWN_PRODUCT_ID}", 404, lambda b: True, "not found"),
        (f"/api/cart/{cart_id}", 200, lambda b: isinstance(b, dict) and isinstance(b.get("items"), list), "a cart"),
        ("/healthz", 200, lambda b: isinstance(b, dict) and b.get("status") == "ok", "status ok"),
    ]


def api_endpoints_answer(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """Each smoke endpoint, through the load balancer, answers with the expected status and shape."""
    name, item = "API endpoints answer normally", "api-endpoints"
    results: dict[str, dict[str, Any]] = {}
    wrong: list[str] = []
    with ServiceClient(target.base_url(), HTTP_TIMEOUT_S) as client:
        catalogue = client.get("/api/products")
        first_id = (catalogue.body[0].get("id", 1) if catalogue.ok and isinstance(catalogue.body, list)
                    and catalogue.body and isinstance(catalogue.body[0], dict) else 1)
        for path, status, shape, meaning in _expectations(int(first_id), f"smoke-probe-{uuid.uuid4().hex[:8]}"):
            call = catalogue if path == "/api/products" else client.get(path)
            good = call.status == status and shape(call.body)
            results[path] = {"status": call.status, "expected": status, "ms": round(call.elapsed_ms, 1),
                             "ok": good, "error": call.error}
            if not good:
                got = call.status if call.status is not None else call.error
                wrong.append(f"GET {path} -> {got} (expected {status}, {meaning})")
    text = f"{len(results) - len(wrong)}/{len(results)} endpoints as expected"
    if wrong:
        text += ": " + "; ".join(wrong[:3])
    return _verdict(item, name, not wrong, {"endpoints": results}, text)


# --- 4. smoke tests pass ------------------------------------------------------------------------
def smoke_tests_pass(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """A small functional journey: list products, view one, add to cart, place an order, read it back."""
    name, item = "smoke tests pass", "smoke-tests"
    cart_id = f"smoke-{uuid.uuid4().hex[:12]}"
    steps: list[dict[str, Any]] = []

    def record(step: str, call: Call, ok: bool) -> bool:
        steps.append({"step": step, "status": call.status, "ms": round(call.elapsed_ms, 1), "ok": ok,
                      "error": call.error})
        return ok

    with ServiceClient(target.base_url(), HTTP_TIMEOUT_S) as client:
        journey_ok = False
        listing = client.get("/api/products")
        if record("list products", listing, listing.ok and isinstance(listing.body, list) and bool(listing.body)):
            product_id = int(listing.body[0]["id"])
            view = client.get(f"/api/products/{product_id}")
            if record("view product", view, view.ok and _is_product(view.body)):
                add = client.post(f"/api/cart/{cart_id}/items", {"product_id": product_id, "quantity": 2})
                in_cart = add.ok and isinstance(add.body, dict) and {"product_id": product_id, "quantity": 2} in (
                    add.body.get("items") or [])
                if record("add to cart", add, in_cart):
                    order = client.post("/api/orders", {"customer": "gameday-smoke", "cart_id": cart_id})
                    order_id = order.body.get("id") if order.ok and isinstance(order.body, dict) else None
                    if record("place order", order, order_id is not None):
                        back = client.get(f"/api/orders/{order_id}")
                        items = back.body.get("items") if back.ok and isinstance(back.body, dict) else None
                        journey_ok = record("read order back", back, isinstance(items, list) and any(
                            i.get("product_id") == product_id and i.get("quantity") == 2 for i in items))
    total_ms = sum(s["ms"] for s in steps)
    measured = {"steps": steps, "total_ms": round(total_ms, 1)}
    if journey_ok:
        return _verdict(item, name, True, measured, f"{len(steps)}/5 steps passed in {total_ms:.0f} ms")
    bad = steps[-1]
    got = bad["status"] if bad["status"] is not None else bad["error"]
    return _verdict(item, name, False, measured, f"step '{bad['step']}' failed ({got}) after {len(steps) - 1}/5 steps")


# --- 5. error rate < 1% -------------------------------------------------------------------------
def error_rate_below(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """The measured load window's failure rate, decided with the Wilson bound (see verdicts)."""
    slo = settings.slo
    pct = f"{slo.max_error_rate:.0%}" if (slo.max_error_rate * 100).is_integer() else f"{slo.max_error_rate:.2%}"
    name = f"error rate < {pct}"
    if m.load is None:
        return Verdict(name, Status.INCONCLUSIVE, {}, "no load window was measured", "error-rate")
    verdict = error_rate_verdict(m.load.requests, m.load.failures, slo.max_error_rate, slo.confidence,
                                 m.load.duration_s, name=name, item="error-rate")
    if m.load.errors and verdict.status is not Status.PASS:
        top, count = m.load.errors[0]
        return Verdict(verdict.name, verdict.status, {**verdict.measured, "top_errors": dict(m.load.errors)},
                       f"{verdict.explanation} (most frequent: {count}x {top})", verdict.item)
    return verdict


# --- 6. response time normal --------------------------------------------------------------------
def response_time_normal(target: Target, m: Measurements, settings: Settings) -> Verdict:
    """p95 of the load window within the SLO and within the tolerance of the baseline."""
    slo = settings.slo
    if m.load is None:
        return Verdict("response time normal", Status.INCONCLUSIVE, {}, "no load window was measured",
                       "response-time")
    base = m.baseline
    return response_time_verdict(
        m.load.p95_ms, m.load.requests, slo.p95_slo_ms,
        baseline_p95_ms=base.p95_ms if base else None,
        tolerance=slo.baseline_tolerance, slack_ms=slo.baseline_slack_ms,
        baseline_samples=base.requests if base else None,
    )


CHECKLIST: tuple[ChecklistItem, ...] = (
    ChecklistItem("pods-running", "all pods running", "所有 pods 都在執行", all_pods_running),
    ChecklistItem("health-checks", "health checks pass", "Health checks 通過", health_checks_pass),
    ChecklistItem("api-endpoints", "API endpoints answer normally", "API endpoints 正常回應", api_endpoints_answer),
    ChecklistItem("smoke-tests", "smoke tests pass", "Smoke tests 通過", smoke_tests_pass),
    ChecklistItem("error-rate", "error rate < 1%", "錯誤率 < 1%", error_rate_below),
    ChecklistItem("response-time", "response time normal", "回應時間正常", response_time_normal),
)
ITEMS: dict[str, ChecklistItem] = {i.id: i for i in CHECKLIST}
LOAD_ITEMS = ("error-rate", "response-time")


def check_item(item_id: str, target: Target, measurements: Measurements | None = None,
               settings: Settings | None = None) -> Verdict:
    """Run one item; a target that cannot answer is a failed item (one line), never an exception."""
    item = ITEMS[item_id]
    try:
        return item.check(target, measurements or Measurements(), settings or get_settings())
    except TargetError as exc:
        return Verdict(item.name, Status.FAIL, {"error": str(exc)}, f"target error: {exc}", item.id)


def run_checklist(target: Target, measurements: Measurements | None = None, settings: Settings | None = None,
                  items: tuple[str, ...] | None = None) -> list[Verdict]:
    """The verdicts of the chosen items (all six by default), in the runbook's order."""
    chosen = items or tuple(ITEMS)
    return [check_item(i, target, measurements, settings) for i in ITEMS if i in chosen]
