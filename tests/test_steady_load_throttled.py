"""Issue 20: a service throttled to 5 req/s never gets a steady-state failure for requests gameday did not send: the
verdict is pass, fail or inconclusive on what the service answered. A real HTTP server in the test serves at most
5 requests a second (one at a time, 0.2 s apart); the steady state's measurement runs the profile's own load at it.
No stack needed."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gameday.chaos.probes import measure_steady_load
from gameday.profile import Profile
from gameday.profile import load as load_profile

RATE_RPS = 5.0

PROFILE = """
service: {name: slow-shop, health_path: /health, readiness_path: /ready}
endpoints:
  - {name: page, path: /page, expect: 200}
  - {name: order, path: "/orders/{order_id}", expect: 200}
journeys:
  - name: place
    steps: [{path: /page, expect: 200, capture: {order_id: "$.order"}}]
  - name: browse
    steps:
      - {path: /page, expect: 200}
      - {path: /page, expect: 200}
detection: {setup: place}
load:
  users: 4
  mix: [{endpoint: page, weight: 4}, {endpoint: order, weight: 2}, {journey: browse, weight: 1}]
"""


class Throttled(ThreadingHTTPServer):
    """Answers one request every 1/RATE_RPS s at most (the rest wait their turn), and 500 to every ``fail_every``th."""

    daemon_threads = True
    fail_every = 0

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.next_slot = 0.0
        self.served: list[float] = []
        self.failed = 0
        self.closing = threading.Event()  # set on shutdown: requests waiting their turn are let go at once

    def shutdown(self) -> None:
        self.closing.set()
        super().shutdown()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away mid-answer (the load stopped) is not worth a traceback."""

    def turn(self) -> bool:
        """Wait for this request's slot; whether it is to fail."""
        with self.lock:
            slot = max(time.monotonic(), self.next_slot)
            self.next_slot = slot + 1.0 / RATE_RPS
            self.served.append(slot)
            fail = bool(self.fail_every) and len(self.served) % self.fail_every == 0
            self.failed += fail
        self.closing.wait(max(0.0, slot - time.monotonic()))  # the throttle itself: until this request's turn
        return fail


class _Handler(BaseHTTPRequestHandler):
    server: Throttled

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        code = 500 if self.server.turn() else (200 if re.fullmatch(r"/page|/orders/\d+", self.path) else 404)
        data = json.dumps({"ok": code == 200}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def shop() -> Iterator[Throttled]:
    server = Throttled()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _profile(tmp_path: Path, slo: str = "") -> Profile:
    path = tmp_path / "gameday.yaml"
    path.write_text(PROFILE + slo)
    return load_profile(path)


def _url(server: Throttled) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_a_healthy_throttled_service_is_never_failed_and_what_was_not_sent_is_apart(shop: Throttled,
                                                                                    tmp_path: Path) -> None:
    """The SLO's resolution (20%) is one 5 req/s can decide in seconds: it passes. ``order`` needs the id the setup
    journey captures, and the service's answer holds none: planned by the mix, never sent, reported as not sent, not
    as the service's errors."""
    profile = _profile(tmp_path, "slo: {max_error_rate: 0.2, p95_ms: 2000}\n")  # 4 users queue: ~0.8 s each
    result = measure_steady_load(profile, _url(shop), window_s=12)
    assert result["verdict"] in ("pass", "inconclusive") and result["verdict"] != "fail"
    assert result["failures"] == 0 and result["errors"] == {}
    assert result["requests"] == len(shop.served)  # every request the service answered, and only those
    assert result["not_sent"] >= 4 and all("not sent" not in e for e in result["errors"])
    assert any("order: no value captured for order_id" in why for why in result["not_sent_why"])
    assert result["request_rate_rps"] <= RATE_RPS * 1.2
    assert result["verdict"] == "pass" and result["ok"], result.get("reason")  # 20 answers decide 20% at 95%
    assert result["error_rate"] == 0.0 and result["p95_ms"] is not None


def test_the_throttled_service_answering_500_to_a_fifth_fails_on_its_answers(shop: Throttled, tmp_path: Path) -> None:
    shop.fail_every = 5
    started = time.monotonic()
    result = measure_steady_load(_profile(tmp_path), _url(shop), window_s=12)
    assert result["verdict"] == "fail" and not result["ok"] and not result["errors_ok"]
    assert result["reason"].startswith("errors: ") and "500 (expected 200)" in result["reason"]
    assert 0 < result["failures"] <= shop.failed and result["requests"] <= len(shop.served)
    assert time.monotonic() - started < 10  # decided on the evidence, long before the cap


def test_undecided_at_a_short_cap_is_inconclusive_with_its_numbers(shop: Throttled, tmp_path: Path) -> None:
    """At 1%, 5 req/s needs ~76 s to pass: a 3 s cap cannot decide, and says so instead of quoting an error rate."""
    result = measure_steady_load(_profile(tmp_path), _url(shop), window_s=3)
    assert result["verdict"] == "inconclusive" and not result["ok"] and not result["errors_ok"]
    assert result["error_rate"] is None and result["failures"] == 0
    assert re.match(r"inconclusive: \d+ requests in [34] s, the service answered [3-6]\.\d req/s \(0 failed, "
                    r"\d+ not sent\); ~381 are needed to show < 1% at 95% \(~\d+ s\): raise verify\.window_s or set a "
                    r"coarser slo\.max_error_rate(; latency: .*)?$", result["reason"]), result["reason"]
    assert result["error_rate_verdict"]["status"] == "inconclusive" and result["requests"] == len(shop.served)
