"""The checklist items against a fake target and a stub of the reference profile's service on 127.0.0.1: fast, no
stack. What is requested and how it is judged comes from the profile (profiles/ecommerce-backend.yaml)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gameday.config import Settings
from gameday.dependencies.base import DependencyCheck
from gameday.runbook.package import find
from gameday.targets.model import Endpoint, Replica, TargetError
from gameday.verify.checklist import CHECKLIST, ITEMS, check_item, run_checklist
from gameday.verify.measurements import LoadWindow, Measurements
from gameday.verify.verdicts import Status

PRODUCTS = [{"id": i, "sku": f"S{i}", "name": f"p{i}", "category": "c", "price": 1.5} for i in range(1, 4)]


class Shop(ThreadingHTTPServer):
    """A stub of the service's API; ``broken`` names a path prefix that answers 500."""

    daemon_threads = True
    broken: str | None = None
    carts: dict[str, dict[int, int]]
    orders: dict[int, dict]

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away mid-answer (locust stopped) is not worth a traceback."""


class _Handler(BaseHTTPRequestHandler):
    server: Shop

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _cart(self, cart_id: str) -> dict:
        cart = self.server.carts.get(cart_id, {})
        return {"cart_id": cart_id, "items": [{"product_id": p, "quantity": q} for p, q in cart.items()]}

    def do_GET(self) -> None:
        if self.server.broken and self.path.startswith(self.server.broken):
            return self._send(500, {"detail": "broken"})
        if self.path in ("/healthz", "/readyz"):
            return self._send(200, {"status": "ok" if self.path == "/healthz" else "ready"})
        if self.path == "/api/products":
            return self._send(200, PRODUCTS)
        if m := re.fullmatch(r"/api/products/(\d+)", self.path):
            found = [p for p in PRODUCTS if p["id"] == int(m[1])]
            return self._send(200, found[0]) if found else self._send(404, {"detail": "product not found"})
        if m := re.fullmatch(r"/api/cart/([\w.:-]+)", self.path):
            return self._send(200, self._cart(m[1]))
        if m := re.fullmatch(r"/api/orders/(\d+)", self.path):
            order = self.server.orders.get(int(m[1]))
            return self._send(200, order) if order else self._send(404, {"detail": "order not found"})
        return self._send(404, {"detail": "not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.server.broken and self.path.startswith(self.server.broken):
            return self._send(500, {"detail": "broken"})
        if m := re.fullmatch(r"/api/cart/([\w.:-]+)/items", self.path):
            cart = self.server.carts.setdefault(m[1], {})
            cart[body["product_id"]] = cart.get(body["product_id"], 0) + body["quantity"]
            return self._send(200, self._cart(m[1]))
        if self.path == "/api/orders":
            items = body.get("items") or [
                {"product_id": p, "quantity": q} for p, q in self.server.carts.get(body.get("cart_id"), {}).items()]
            order_id = len(self.server.orders) + 1
            self.server.orders[order_id] = {"id": order_id, "customer": body["customer"], "items": items}
            return self._send(201, {"id": order_id, "status": "accepted"})
        return self._send(404, {"detail": "not found"})


@pytest.fixture
def shop() -> Iterator[Shop]:
    """The stub shop on a free loopback port."""
    server = Shop(("127.0.0.1", 0), _Handler)
    server.carts, server.orders = {}, {}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class FakeTarget:
    """The three observations the checklist uses, as plain data."""

    url: str
    pods: list[Replica] = field(default_factory=list)
    eps: list[Endpoint] = field(default_factory=list)
    name: str = "fake"
    down: dict[str, str] = field(default_factory=dict)  # dependency -> why its check fails
    checked: list[tuple[str, float]] = field(default_factory=list)

    def check_dependency(self, name: str, timeout: float = 2.0) -> DependencyCheck:
        self.checked.append((name, timeout))
        return DependencyCheck(name, name not in self.down, 0.004, self.down.get(name, "answers"), f"check {name}")

    def base_url(self) -> str:
        return self.url

    def answer_timeout_s(self) -> float:
        return 3.0

    def replicas(self) -> list[Replica]:
        return self.pods

    def endpoints(self) -> list[Endpoint]:
        return self.eps


def _target(shop: Shop, **changes: object) -> FakeTarget:
    pods = [Replica(f"replica-{i}", "Running", True, 0) for i in range(3)]
    eps = [Endpoint(f"replica-{i}", f"127.0.0.1:{i}", True, "UP") for i in range(3)]
    target = FakeTarget(f"http://127.0.0.1:{shop.server_address[1]}", pods, eps)
    for key, value in changes.items():
        setattr(target, key, value)
    return target


HEALTHY_LOAD = LoadWindow(requests=1000, failures=0, p50_ms=5, p95_ms=12, p99_ms=30, duration_s=5.0, ok_p95_ms=12)


def test_every_item_passes_on_a_healthy_fake(shop: Shop) -> None:
    items = find("service-outage").checklist  # the runbook's Verification checklist, in its order
    verdicts = run_checklist(_target(shop), Measurements(load=HEALTHY_LOAD, baseline=HEALTHY_LOAD), Settings(), items)
    assert [v.item for v in verdicts] == list(items) == [i.id for i in CHECKLIST]
    assert all(v.passed for v in verdicts), [v.line() for v in verdicts if not v.passed]
    api, smoke = verdicts[2], verdicts[3]
    assert set(api.measured["endpoints"]) == {"catalogue", "product", "unknown-product", "cart", "order-lookup"}
    assert api.measured["endpoints"]["unknown-product"]["status"] == 404  # the profile expects 404 there
    assert {name: len(j["steps"]) for name, j in smoke.measured["journeys"].items()} == {"checkout": 6,
                                                                                         "place-order": 2}


def test_a_frozen_replica_fails_the_pods_item_by_name(shop: Shop) -> None:
    pods = [Replica("replica-0", "Frozen", False, 0), Replica("replica-1", "Running", True, 2)]
    v = check_item("pods-running", _target(shop, pods=pods), settings=Settings())
    assert v.status is Status.FAIL and "1/2" in v.explanation and "replica-0 Frozen, not ready" in v.explanation
    assert check_item("pods-running", _target(shop, pods=[]), settings=Settings()).status is Status.FAIL


def test_an_endpoint_down_fails_the_health_item(shop: Shop) -> None:
    eps = [Endpoint("replica-0", "a", False, "DOWN"), Endpoint("replica-1", "b", True, "UP")]
    v = check_item("health-checks", _target(shop, eps=eps), settings=Settings())
    assert v.status is Status.FAIL and "down: replica-0" in v.explanation
    assert v.measured["health_ok"] == v.measured["calls_per_path"] == 4


def test_a_broken_endpoint_fails_the_api_item_and_the_journey_at_its_step(shop: Shop) -> None:
    shop.broken = "/api/cart"
    api = check_item("api-endpoints", _target(shop), settings=Settings())
    assert api.status is Status.FAIL and "GET /api/cart/" in api.explanation and "-> 500" in api.explanation
    smoke = check_item("smoke-tests", _target(shop), settings=Settings())
    assert smoke.status is Status.FAIL and "-> 500" in smoke.explanation
    assert "journey checkout: step 3/6 add-to-cart: POST /api/cart/" in smoke.explanation


def test_nothing_listening_fails_the_http_items_with_connection_refused() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = FakeTarget(f"http://127.0.0.1:{port}", [Replica("r", "Running", True, 0)],
                        [Endpoint("r", "a", True, "UP")])
    for item in ("health-checks", "api-endpoints", "smoke-tests"):
        v = check_item(item, target, settings=Settings())
        assert v.status is Status.FAIL and "Connection refused" in v.explanation, v.line()


def test_load_items_without_a_window_are_inconclusive_and_judge_one_when_given(shop: Shop) -> None:
    t = _target(shop)
    assert check_item("error-rate", t).status is Status.INCONCLUSIVE
    assert check_item("response-time", t).status is Status.INCONCLUSIVE
    bad = LoadWindow(requests=500, failures=50, p50_ms=5, p95_ms=2000, p99_ms=2000, duration_s=5.0,
                     errors=(("GET /api/products: 504", 50),), ok_p95_ms=2000)
    er = check_item("error-rate", t, Measurements(load=bad), Settings())
    assert er.status is Status.FAIL and "50x GET /api/products: 504" in er.explanation
    rt = check_item("response-time", t, Measurements(load=bad, baseline=HEALTHY_LOAD), Settings())
    assert rt.status is Status.FAIL and "p95 2000 ms above SLO 500 ms" in rt.explanation


def test_a_target_error_is_a_failed_item_not_an_exception(shop: Shop) -> None:
    class Unreachable(FakeTarget):
        def replicas(self) -> list[Replica]:
            raise TargetError("local stack is not running")

    v = check_item("pods-running", Unreachable("http://127.0.0.1:9"), settings=Settings())
    assert v.status is Status.FAIL and "local stack is not running" in v.explanation
    assert set(ITEMS) == {"pods-running", "health-checks", "api-endpoints", "smoke-tests", "dependencies",
                          "error-rate", "response-time"}


def test_a_dependency_that_does_not_answer_fails_its_line_by_name(shop: Shop) -> None:
    target = _target(shop, down={"postgres": "no new connection within 2s"})
    v = check_item("dependencies", target, settings=Settings())
    assert v.status is Status.FAIL
    assert v.explanation == "postgres does not answer: no new connection within 2s"
    assert sorted(n for n, _ in target.checked) == ["kafka", "postgres", "redis"]  # every dependency of the profile
    ok = check_item("dependencies", _target(shop), settings=Settings())
    assert ok.passed and ok.explanation.endswith("all answer")


def test_latency_over_failed_requests_is_not_judged(shop: Shop) -> None:
    # every request failed fast (503s in a millisecond): a p95 of 1 ms over them is not "normal"
    dead = LoadWindow(requests=800, failures=800, p50_ms=1, p95_ms=1, p99_ms=1, duration_s=2.0, ok_p95_ms=None)
    v = check_item("response-time", _target(shop), Measurements(load=dead, baseline=HEALTHY_LOAD), Settings())
    assert v.status is Status.FAIL and v.explanation == "not judged: no successful requests"
    few = LoadWindow(requests=800, failures=795, p50_ms=1, p95_ms=1, p99_ms=1, duration_s=2.0, ok_p95_ms=3)
    v = check_item("response-time", _target(shop), Measurements(load=few), Settings())
    assert v.status is Status.FAIL and "not judged: only 5 successful requests" in v.explanation
