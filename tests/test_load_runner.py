"""locust in a subprocess against a small stub shop on 127.0.0.1: timeline, failures, early stop, distributed mode.

Each run is bounded (a few users, a few seconds); no stack needed. Marked slow: every test starts locust.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gameday.errors import UsageError
from gameday.load.runner import DEFAULT_LOCUSTFILE, LoadRun, LoadSpec, free_port, run_load

pytestmark = pytest.mark.slow

PRODUCTS = [{"id": i, "name": f"p{i}", "price": 1.0} for i in range(1, 21)]


class StubShop(ThreadingHTTPServer):
    """Answers the journeys' paths; ``delay_s`` makes every answer slow; ``status`` forces an error."""

    daemon_threads = True
    delay_s = 0.0
    status = 200

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stopping = threading.Event()  # set at teardown: a slow answer still in flight ends at once

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away mid-answer (locust stopped) is not worth a traceback."""


class _Handler(BaseHTTPRequestHandler):
    server: StubShop

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: object) -> None:
        if self.server.delay_s:
            self.server.stopping.wait(self.server.delay_s)  # the stub's own slowness, cut short at teardown
        data = json.dumps(body).encode()
        self.send_response(self.server.status if self.server.status != 200 else code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/api/products":
            self._send(200, PRODUCTS)
        elif self.path.startswith("/api/products/"):
            self._send(200, PRODUCTS[0])
        elif self.path.startswith("/api/orders/"):
            self._send(200, {"id": 1, "items": []})
        else:
            self._send(200, {"items": []})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(201 if self.path == "/api/orders" else 200, {"id": 1, "items": []})


@pytest.fixture
def shop() -> Iterator[StubShop]:
    """A stub shop on a free loopback port, stopped after the test."""
    server = StubShop(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def _url(server: StubShop) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _all_exited(run: LoadRun) -> bool:
    return all(p.poll() is not None for p in run.procs)


def test_a_run_writes_a_per_second_timeline_matching_locusts_totals(shop: StubShop, tmp_path: Path) -> None:
    with LoadRun(LoadSpec(host=_url(shop), users=3, duration_s=3, wait=(0, 0.02), out_dir=tmp_path)) as run:
        result = run.wait()
    assert _all_exited(run)
    assert result.tool_error is None and result.exit_code == 0
    tl = result.timeline
    assert tl.requests > 50 and tl.failures == 0
    assert tl.requests == result.requests  # the timeline accounts for every request locust counted
    assert len(tl) >= 3 and all(b.t - a.t == 1 for a, b in zip(tl.seconds, tl.seconds[1:], strict=False))
    assert tl.p95 is not None and tl.p50 <= tl.p95 <= tl.p99
    lines = (tmp_path / "timeline.jsonl").read_text().splitlines()
    assert {"t", "requests", "failures", "p50", "p95", "p99"} <= set(json.loads(lines[0]))
    assert "locust" not in sys.modules  # gameday never imports locust


def test_a_relative_output_directory_works(shop: StubShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # locust runs inside its output directory: a relative path must not double up
    with LoadRun(LoadSpec(host=_url(shop), users=2, duration_s=2, wait=(0, 0.02), out_dir=Path("reports/load"))) as run:
        result = run.wait()
    assert result.tool_error is None and result.timeline.requests > 0
    assert (tmp_path / "reports" / "load" / "timeline.jsonl").exists()


def test_refused_connections_are_failed_requests_not_tool_errors(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    result = run_load(LoadSpec(host=closed, users=2, duration_s=2, wait=(0, 0.05), out_dir=tmp_path))
    assert result.tool_error is None and result.exit_code == 0
    tl = result.timeline
    assert tl.requests > 0 and tl.failures == tl.requests
    assert any("Connection refused" in message for message in tl.errors())


def test_timeouts_are_failed_requests(shop: StubShop, tmp_path: Path) -> None:
    shop.delay_s = 1.0
    result = run_load(LoadSpec(host=_url(shop), users=2, duration_s=3, wait=(0, 0), request_timeout_s=0.3,
                               out_dir=tmp_path))
    assert result.tool_error is None
    assert result.timeline.requests > 0 and result.timeline.failures == result.timeline.requests
    assert any("timeout" in m.lower() or "timed out" in m.lower() for m in result.timeline.errors())


def test_the_timeline_is_read_live_and_a_run_can_be_stopped_early(shop: StubShop, tmp_path: Path) -> None:
    spec = LoadSpec(host=_url(shop), users=2, duration_s=60, wait=(0, 0.05), out_dir=tmp_path)
    start = time.monotonic()
    with LoadRun(spec) as run:
        deadline = time.monotonic() + 15
        while len(run.timeline()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # poll
        live = run.timeline()
        assert len(live) >= 2 and run.running()
        result = run.stop()
    assert time.monotonic() - start < 20  # far from its 60 s limit
    assert _all_exited(run)
    assert result.timeline.requests >= live.requests > 0
    assert result.requests == result.timeline.requests  # SIGTERM still wrote locust's stats and the last lines


def test_distributed_mode_with_two_local_workers(shop: StubShop, tmp_path: Path) -> None:
    spec = LoadSpec(host=_url(shop), users=4, duration_s=4, workers=2, wait=(0, 0.05), out_dir=tmp_path)
    with LoadRun(spec) as run:
        assert len(run.procs) == 3
        master = run.commands(5557)[0]
        assert "--master" in master and master[master.index("--expect-workers") + 1] == "2"
        result = run.wait()
    assert _all_exited(run)
    assert result.tool_error is None
    assert result.timeline.requests > 0 and result.timeline.failures == 0
    assert result.timeline.requests == result.requests  # workers' buckets reached the master's timeline


def test_a_broken_locustfile_is_a_tool_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad_locustfile.py"
    bad.write_text("this is not python\n")
    result = run_load(LoadSpec(host="http://127.0.0.1:9", users=1, duration_s=2, locustfile=bad, out_dir=tmp_path))
    assert result.tool_error is not None and result.timeline.requests == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"users": 0}, "users"), ({"users": 10_000}, "users"), ({"duration_s": 0}, "duration"),
     ({"duration_s": 99_999}, "duration"), ({"host": "ftp://x"}, "http"), ({"workers": 99}, "workers"),
     ({"locustfile": Path("/nonexistent.py")}, "locustfile")],
)
def test_unbounded_or_malformed_specs_are_refused(changes: dict, message: str) -> None:
    spec = {"host": "http://127.0.0.1:9", "users": 1, "duration_s": 1, **changes}
    with pytest.raises(UsageError, match=message):
        LoadRun(LoadSpec(**spec))


def test_the_locustfile_runs_on_its_own_with_the_web_ui(tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "locust", "-f", str(DEFAULT_LOCUSTFILE), "--host", f"http://127.0.0.1:{free_port()}",
           "--web-host", "127.0.0.1", "--web-port", str(port)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)  # poll
        assert page is not None and page.status_code == 200 and "locust" in page.text.lower()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_locustfile_builds_its_users_from_the_profile(tmp_path: Path) -> None:
    # a service that is not the reference one: other paths, a journey whose second step needs a captured id
    from tests.test_load_burst import PROFILE, Desk, _Handler

    profile = tmp_path / "gameday.yaml"
    profile.write_text(PROFILE)
    desk = Desk(("127.0.0.1", 0), _Handler)
    desk.seen = []
    threading.Thread(target=desk.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        result = run_load(LoadSpec(host=f"http://127.0.0.1:{desk.server_address[1]}", users=2, duration_s=5,
                                   wait=(0, 0.02), out_dir=tmp_path / "out", profile=profile))
    finally:
        desk.shutdown()
        desk.server_close()
    assert result.tool_error is None and result.timeline.requests > 0 and result.timeline.failures == 0
    names = {e["name"] for e in result.stats}
    assert {"events", "ticket", "buy: GET /v2/events", "buy: POST /v2/tickets"} <= names  # named after the profile
    assert "GET /v2/tickets/41" in desk.seen  # the id captured by the journey
    assert result.timeline.ok_p95 is not None
