"""The promise probes' users stop once the answers decide the verdict (the stopping rule of every load measured
"until decided"), and measure the whole window when they never do: a real HTTP server answers them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gameday.chaos import promise_probes
from gameday.chaos.probe_state import reset_run_state
from gameday.profile import load as load_profile

PROFILE = load_profile(None)


class _Down(BaseHTTPRequestHandler):
    """Every request answered 503: what a service whose dependency is gone answers."""

    def do_GET(self) -> None:  # http.server's name for a GET
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _Site:
    """What the users read of a target: where it answers and how long a client waits."""

    def __init__(self, url: str) -> None:
        self.url = url

    def base_url(self) -> str:
        return self.url

    def answer_timeout_s(self) -> float:
        return 2.0


@pytest.fixture
def site() -> Iterator[_Site]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Down)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _Site(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def test_the_users_stop_once_the_error_rate_is_decided(site: _Site) -> None:
    reset_run_state()
    max_rate = PROFILE.slo.max_error_rate
    started = time.monotonic()
    answers = promise_probes._users(PROFILE, site, "redis", 20.0, others=False,  # type: ignore[arg-type]
                                    decided=lambda seen: promise_probes._decided(seen, True, max_rate))
    assert time.monotonic() - started < 10  # every answer fails: decided (failed) long before the window's end
    assert answers and not any(a.ok for a in answers)


def test_undecided_answers_are_measured_for_the_whole_window(site: _Site) -> None:
    reset_run_state()
    started = time.monotonic()
    promise_probes._users(PROFILE, site, "redis", 1.5, others=False,  # type: ignore[arg-type]
                          decided=lambda seen: False)
    assert time.monotonic() - started >= 1.5
