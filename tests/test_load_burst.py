"""The smoke gate's in-process load of a profile's mix, against a stub of a service that is NOT the reference one:
other paths, a journey whose second step needs an id captured from the first. Bounded; no stack needed."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gameday.errors import UsageError
from gameday.load.burst import Burst
from gameday.load.timeline import Timeline
from gameday.profile import Profile
from gameday.profile import load as load_profile
from tests.helpers import wait_for

PROFILE = """
service: {name: ticket-desk, health_path: /status, readiness_path: /status/ready}
endpoints:
  - {name: events, path: /v2/events, expect: {status: 200, json: [{path: "$.data[0].event_id", type: integer}]}}
  - {name: ticket, path: "/v2/tickets/{ticket_id}", expect: 200}
journeys:
  - name: buy
    steps:
      - {path: /v2/events, expect: 200, capture: {event_id: "$.data[0].event_id"}}
      - {method: POST, path: /v2/tickets, json: {event: "{event_id}"}, expect: 201, capture: {ticket_id: "$.ticket"}}
detection: {setup: buy}
load:
  users: 2
  mix: [{endpoint: events, weight: 3}, {endpoint: ticket, weight: 1}, {journey: buy, weight: 1}]
"""


class Desk(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[str]
    broken = False

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away mid-answer (a load run stopped) is not worth a traceback."""


class _Handler(BaseHTTPRequestHandler):
    server: Desk

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: object) -> None:
        self.server.seen.append(f"{self.command} {self.path}")
        data = json.dumps(body).encode()
        self.send_response(503 if self.server.broken else code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v2/events":
            return self._send(200, {"data": [{"event_id": 7}]})
        if re.fullmatch(r"/v2/tickets/\d+", self.path):
            return self._send(200, {"ticket": int(self.path.rsplit("/", 1)[1])})
        return self._send(404, {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        ok = self.path == "/v2/tickets" and body.get("event") == 7
        return self._send(201 if ok else 400, {"ticket": 41})


@pytest.fixture
def desk() -> Iterator[Desk]:
    server = Desk(("127.0.0.1", 0), _Handler)
    server.seen = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    path = tmp_path / "gameday.yaml"
    path.write_text(PROFILE)
    return load_profile(path)


def _url(server: Desk) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_the_burst_runs_the_profiles_mix_with_its_captures(desk: Desk, profile: Profile, tmp_path: Path) -> None:
    with Burst(profile, _url(desk), max_requests=200, max_seconds=10, seed=1) as burst:
        timeline = burst.wait()
    assert 200 <= timeline.requests <= 200 + 2 * 2  # bounded (a journey in flight may finish its steps)
    assert timeline.failures == 0 and timeline.ok_p95 is not None
    assert sum(timeline.ok_hist().values()) == timeline.successes == timeline.requests
    paths = set(desk.seen)
    assert {"GET /v2/events", "POST /v2/tickets", "GET /v2/tickets/41"} <= paths  # the captured id was used
    burst.write(tmp_path / "timeline.jsonl")
    assert Timeline.read(tmp_path / "timeline.jsonl").requests == timeline.requests


def test_failed_requests_count_and_their_latency_is_kept_apart(desk: Desk, profile: Profile) -> None:
    desk.broken = True
    with Burst(profile, _url(desk), max_requests=50, max_seconds=10) as burst:
        timeline = burst.wait()
    assert timeline.requests >= 50 and timeline.failures == timeline.requests
    assert timeline.ok_p95 is None and timeline.p95 is not None  # no success: no latency to judge
    assert any("503 (expected 200)" in e for e in timeline.errors())


def test_a_burst_against_nothing_is_bounded_and_fails_every_request(profile: Profile) -> None:
    started = time.monotonic()
    with Burst(profile, "http://127.0.0.1:9", users=3, max_requests=30, max_seconds=5, timeout_s=1) as burst:
        timeline = burst.wait()
    assert time.monotonic() - started < 8
    assert timeline.requests >= 30 and timeline.failures == timeline.requests
    assert any("Connection refused" in e for e in timeline.errors())


def test_stop_ends_a_burst_early(desk: Desk, profile: Profile) -> None:
    burst = Burst(profile, _url(desk), max_requests=100_000, max_seconds=60).start()
    wait_for(lambda: len(desk.seen) >= 10, 10, what="the burst's first requests")  # what is stopped had started
    started = time.monotonic()
    burst.stop()
    assert time.monotonic() - started < 3 and not burst.running()


@pytest.mark.parametrize("kwargs", [{"users": 0}, {"users": 51}, {"max_requests": 0}, {"max_seconds": 0},
                                    {"max_seconds": 301}])
def test_an_unbounded_burst_is_refused(profile: Profile, kwargs: dict) -> None:
    with pytest.raises(UsageError, match=r"must be|bounded"):
        Burst(profile, "http://127.0.0.1:9", **kwargs)
