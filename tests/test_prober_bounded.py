"""What the prober adds to a slow service's load: bounded by the profile, never piled on by probes waiting out their
timeouts (a real HTTP server that answers late; no stack needed)."""

from __future__ import annotations

import http.server
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from gameday.run.prober import HEALTH, Probe, Prober

LATE_S = 1.2  # every answer, over the 0.5 s the prober allows in flight and within the 3 s it waits


class _Late(http.server.BaseHTTPRequestHandler):
    in_flight = 0
    most = 0
    late_s = LATE_S  # how late the service answers now
    lock = threading.Lock()

    def do_GET(self) -> None:
        with _Late.lock:
            _Late.in_flight += 1
            _Late.most = max(_Late.most, _Late.in_flight)
        try:
            threading.Event().wait(_Late.late_s)  # the service's own slowness, not a test's wait
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        finally:
            with _Late.lock:
                _Late.in_flight -= 1

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def late_service() -> Iterator[str]:
    _Late.in_flight = _Late.most = 0
    _Late.late_s = LATE_S
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Late)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_slow_service_is_probed_as_fast_as_it_answers_not_piled_on(late_service: str) -> None:
    hz, in_flight_s = 20.0, 0.5  # one series: a probe every 50 ms, at most 11 in flight
    prober = Prober(late_service, [Probe(HEALTH, path="/healthz", timeout_s=3.0)], hz=hz,
                    in_flight_s=in_flight_s).start()
    started = time.monotonic()
    deadline = started + 3 * LATE_S + 1
    while time.monotonic() < deadline and len(prober.snapshot()) < 30:
        time.sleep(0.05)  # poll
    elapsed = time.monotonic() - started
    prober.stop()
    answered = prober.snapshot()
    bound = round(in_flight_s * hz) + 1
    assert _Late.most <= bound, f"{_Late.most} probes in flight at once, the bound is {bound}"
    # every probe answered (slow, not failed), at most `bound` of them per LATE_S
    assert answered and all(o.ok and o.latency_s >= LATE_S - 0.05 for o in answered)
    assert len(answered) <= bound * (elapsed / LATE_S + 1), (len(answered), elapsed)


def test_a_service_fast_again_is_probed_on_schedule_not_in_a_catch_up_burst(late_service: str) -> None:
    """Each thread's slow answers made it miss slots; once the service answers at once, those slots are skipped. Sent
    late instead, 11 threads each fire the slots they missed back to back: a burst on a service just recovering."""
    hz = 20.0
    prober = Prober(late_service, [Probe(HEALTH, path="/healthz", timeout_s=3.0)], hz=hz,
                    in_flight_s=0.5).start()
    deadline = time.monotonic() + 3 * LATE_S + 1
    while time.monotonic() < deadline and len(prober.snapshot()) < 11:  # every thread has missed slots
        time.sleep(0.05)  # poll
    _Late.late_s = 0.0
    fast_from = time.time()
    deadline = time.monotonic() + 2 * LATE_S + 1
    while time.monotonic() < deadline and prober.snapshot(fast_from + LATE_S)[:1] == []:
        time.sleep(0.05)  # poll
    prober.stop()
    sent = [o.at for o in prober.snapshot(fast_from)]
    window = 0.25
    busiest = max(sum(1 for t in sent if start <= t < start + window) for start in sent)
    assert busiest <= hz * window + 3, f"{busiest} probes sent within {window} s at {hz:g} a second"
