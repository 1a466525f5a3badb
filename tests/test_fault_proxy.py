"""The fault proxy (``python -m gameday.proxy``) as Toxiproxy's clients see it: a real subprocess, driven with plain
HTTP calls exactly as Toxiproxy's README documents them, in front of a real echo server and a real redis-server.

Timing checks are lower bounds (a toxic that adds 200 ms must add at least 90% of it); where a toxic must *not*
act, the bound is the toxic's own delay, far above a loopback round trip. No stack is needed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import wait_for

PROXY_START_S = 15.0


class FaultProxy:
    """A running ``python -m gameday.proxy`` on a free port, and plain HTTP calls to its API."""

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, decoded JSON or None), as ``curl -X METHOD url -d 'json'`` would get them."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, json.loads(raw) if raw.strip() else None

    def create(self, name: str, upstream: str, **fields: Any) -> dict[str, Any]:
        status, proxy = self.call("POST", "/proxies", {"name": name, "listen": "127.0.0.1:0", "upstream": upstream,
                                                       **fields})
        assert status == 201, proxy
        return proxy

    def toxic(self, proxy: str, **toxic: Any) -> dict[str, Any]:
        status, created = self.call("POST", f"/proxies/{proxy}/toxics", toxic)
        assert status == 200, created
        return created


def start_fault_proxy(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gameday.proxy", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def api_url(proc: subprocess.Popen[str]) -> str:
    """The URL from the line the proxy prints once its API answers."""
    line = proc.stdout.readline() if proc.stdout else ""
    assert "API on http://" in line, f"no ready line: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
    return line.strip().rsplit(" ", 1)[1]


def stop_fault_proxy(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture(scope="module")
def fault_proxy() -> Iterator[FaultProxy]:
    proc = start_fault_proxy("--log-level", "WARNING")
    try:
        yield FaultProxy(proc, api_url(proc))
    finally:
        stop_fault_proxy(proc)


@pytest.fixture(autouse=True)
def clean_proxies(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts from no proxies (the module shares one fault proxy process)."""
    yield
    if "fault_proxy" in request.fixturenames:
        api: FaultProxy = request.getfixturevalue("fault_proxy")
        _, proxies = api.call("GET", "/proxies")
        for name in proxies:
            api.call("DELETE", f"/proxies/{name}")


class _Echo(socketserver.BaseRequestHandler):
    """Echoes what it gets; ``CLOSE`` makes it close the connection (to watch a close go through the proxy)."""

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError):  # reset_peer and aborted links reset the proxy's side too
            while data := self.request.recv(65536):
                if data == b"CLOSE":
                    return
                self.request.sendall(data)


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    """A real TCP echo server on loopback: its ``host:port``."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def connect(listen: str, timeout: float = 5.0) -> socket.socket:
    host, port = listen.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Seconds for ``payload`` to come back through the echo server."""
    started = time.monotonic()
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "connection closed during a round trip"
        received += chunk
    assert received == payload
    return time.monotonic() - started


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def closed_by_peer(sock: socket.socket) -> bool:
    """The peer closed: EOF with nothing more to read, or a reset where bytes were still unread on its side."""
    try:
        return read_until_closed(sock) == b""
    except ConnectionResetError:
        return True


# --- the API: shapes and status codes -----------------------------------------------------------------------------


def test_api_answers_with_toxiproxys_shapes_and_codes(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    assert api.call("GET", "/version") == (200, {"version": "2.12.0"})
    status, proxy = api.call("POST", "/proxies", {"name": "echo", "listen": "127.0.0.1:0", "upstream": echo})
    assert status == 201
    assert set(proxy) == {"name", "listen", "upstream", "enabled", "toxics"}
    assert proxy["enabled"] is True and proxy["toxics"] == [] and proxy["upstream"] == echo
    assert proxy["listen"].startswith("127.0.0.1:") and not proxy["listen"].endswith(":0")  # the real port
    assert api.call("POST", "/proxies", {"name": "echo", "upstream": echo})[0] == 409
    assert api.call("POST", "/proxies", {"name": "x"}) == (400, {"error": "missing required field: upstream",
                                                                   "status": 400})
    assert api.call("GET", "/proxies/nope") == (404, {"error": "proxy not found", "status": 404})
    assert api.call("GET", "/proxies/nope/toxics")[0] == 404
    # a toxic without name gets <type>_<stream>; stream defaults to downstream, toxicity to 1
    created = api.toxic("echo", type="latency", attributes={"latency": 50})
    assert created == {"attributes": {"latency": 50, "jitter": 0}, "name": "latency_downstream", "type": "latency",
                       "stream": "downstream", "toxicity": 1.0}
    assert api.call("POST", "/proxies/echo/toxics", {"type": "latency"})[0] == 409
    assert api.call("POST", "/proxies/echo/toxics", {"type": "nonsense"})[0] == 400
    assert api.call("POST", "/proxies/echo/toxics", {"type": "latency", "stream": "sideways"})[0] == 400
    assert api.call("GET", "/proxies/echo/toxics/latency_downstream") == (200, created)
    assert api.call("GET", "/proxies/echo/toxics") == (200, [created])
    assert api.call("GET", "/proxies/echo/toxics/none")[0] == 404
    assert api.call("DELETE", "/proxies/echo/toxics/none")[0] == 404
    assert api.call("GET", "/proxies")[1]["echo"]["toxics"] == [created]
    assert api.call("DELETE", "/proxies/echo/toxics/latency_downstream") == (204, None)
    # loopback only: a wildcard listen means 127.0.0.1, any other host is refused before anything changes
    assert api.create("wild", echo, listen="0.0.0.0:0")["listen"].startswith("127.0.0.1:")
    assert api.call("POST", "/proxies", {"name": "out", "listen": "10.1.2.3:0", "upstream": echo})[0] == 400
    assert "out" not in api.call("GET", "/proxies")[1]
    assert api.call("DELETE", "/proxies/echo") == (204, None)
    assert api.call("DELETE", "/proxies/echo")[0] == 404
    request = urllib.request.Request(api.url + "/proxies", headers={"User-Agent": "Mozilla/5.0"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 403


def test_populate_creates_keeps_and_replaces(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    wanted = [{"name": "a", "listen": "127.0.0.1:0", "upstream": echo},
              {"name": "b", "listen": "127.0.0.1:0", "upstream": echo, "enabled": False}]
    status, answer = api.call("POST", "/populate", wanted)
    assert status == 201
    assert [(p["name"], p["enabled"]) for p in answer["proxies"]] == [("a", True), ("b", False)]
    a_listen = answer["proxies"][0]["listen"]
    # the same list again, with a's real address: a is left alone (same port, its toxic kept)
    api.toxic("a", type="latency", attributes={"latency": 10})
    status, again = api.call("POST", "/populate", [{"name": "a", "listen": a_listen, "upstream": echo}])
    assert status == 201 and again["proxies"][0]["listen"] == a_listen and again["proxies"][0]["toxics"]
    # a changed upstream replaces it
    status, replaced = api.call("POST", "/populate", [{"name": "a", "listen": a_listen, "upstream": "127.0.0.1:9"}])
    assert status == 201 and replaced["proxies"][0]["upstream"] == "127.0.0.1:9"
    assert replaced["proxies"][0]["toxics"] == []
    # a bad entry refuses the whole list before any change
    status, error = api.call("POST", "/populate", [{"name": "c", "upstream": echo}, {"upstream": echo}])
    assert (status, error["error"]) == (400, "missing required field: name at proxy 2")
    assert "c" not in api.call("GET", "/proxies")[1]


def test_reset_enables_every_proxy_and_removes_every_toxic(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    api.create("r", echo)
    api.toxic("r", type="timeout", attributes={"timeout": 0})
    assert api.call("POST", "/proxies/r", {"enabled": False})[1]["enabled"] is False
    assert api.call("POST", "/reset") == (204, None)
    proxy = api.call("GET", "/proxies/r")[1]
    assert proxy["enabled"] is True and proxy["toxics"] == []
    with connect(proxy["listen"]) as sock:
        assert round_trip(sock) < 5


# --- toxics on real traffic ---------------------------------------------------------------------------------------


def test_latency_slows_round_trips_on_live_and_new_connections(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    listen = api.create("slow", echo)["listen"]
    with connect(listen) as live:
        round_trip(live)
        api.toxic("slow", name="lag", type="latency", attributes={"latency": 200})
        assert round_trip(live) >= 0.18  # an open connection gets it too
        with connect(listen) as fresh:
            assert round_trip(fresh) >= 0.18
        api.toxic("slow", type="latency", stream="upstream", attributes={"latency": 100, "jitter": 20})
        assert round_trip(live) >= 0.9 * (200 + 80) / 1000
        api.call("DELETE", "/proxies/slow/toxics/lag")
        api.call("DELETE", "/proxies/slow/toxics/latency_upstream")
        assert round_trip(live) < 0.18  # lifted on the same connection


def test_toxicity_decides_which_connections_get_a_toxic(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    listen = api.create("odds", echo)["listen"]
    api.toxic("odds", name="lag", type="latency", toxicity=0, attributes={"latency": 300})
    for _ in range(3):
        with connect(listen) as sock:
            assert round_trip(sock) < 0.27
    status, updated = api.call("POST", "/proxies/odds/toxics/lag", {"toxicity": 1})
    assert status == 200 and updated["toxicity"] == 1 and updated["attributes"]["latency"] == 300
    with connect(listen) as sock:
        assert round_trip(sock) >= 0.27


def test_timeout_zero_is_a_blackhole_until_removed(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    listen = api.create("hole", echo)["listen"]
    api.toxic("hole", type="timeout", attributes={"timeout": 0})
    with connect(listen, timeout=0.5) as sock:
        sock.sendall(b"hello")  # accepted: the connection is open
        with pytest.raises(TimeoutError):
            sock.recv(100)
        sock.sendall(b"still open")
        with pytest.raises(TimeoutError):
            sock.recv(100)
        api.call("DELETE", "/proxies/hole/toxics/timeout_downstream")
        sock.settimeout(5)
        # bytes were dropped, so the stream is garbage: removing the toxic closes it, as Toxiproxy does
        assert closed_by_peer(sock)


def test_timeout_closes_the_connection_after_the_delay(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    listen = api.create("cut", echo)["listen"]
    api.toxic("cut", type="timeout", attributes={"timeout": 300})
    with connect(listen) as sock:
        started = time.monotonic()
        sock.sendall(b"lost")
        assert closed_by_peer(sock)
        assert time.monotonic() - started >= 0.27


def test_reset_peer_resets_the_connection(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    listen = api.create("rst", echo)["listen"]
    api.toxic("rst", type="reset_peer", stream="upstream", attributes={"timeout": 0})
    with connect(listen) as sock:
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            sock.recv(100)


def test_disabled_proxy_cuts_connections_and_refuses_new_ones(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    listen = api.create("down", echo)["listen"]
    with connect(listen) as live:
        round_trip(live)
        status, proxy = api.call("POST", "/proxies/down", {"enabled": False})
        assert status == 200 and proxy["enabled"] is False
        assert closed_by_peer(live)
    with pytest.raises(ConnectionRefusedError):
        connect(listen)
    assert api.call("POST", "/proxies/down", {"enabled": True})[1]["listen"] == listen  # the same port again
    with connect(listen) as sock:
        round_trip(sock)


def test_an_upstream_that_refuses_is_refused_through_the_proxy_until_it_accepts(fault_proxy: FaultProxy) -> None:
    """A stopped dependency refuses connections, and so does its proxy (a client sees "Connection refused" as
    through a Service without endpoints), while the proxy stays enabled; it listens again once the upstream does."""
    with socket.socket() as held:  # a port with nothing listening: a stopped upstream
        held.bind(("127.0.0.1", 0))
        upstream = f"127.0.0.1:{held.getsockname()[1]}"
        listen = fault_proxy.create("stopped", upstream)["listen"]

        def refused() -> bool:
            try:
                with connect(listen, timeout=2):
                    return False  # accepted (then reset): the proxy has not closed its listener yet
            except ConnectionRefusedError:
                return True

        with contextlib.suppress(OSError), connect(listen) as first:  # accepted before the proxy knew: reset
            first.recv(1)
        wait_for(refused, 5, what="the proxy refusing as its upstream does")
        assert fault_proxy.call("GET", "/proxies/stopped")[1]["enabled"] is True  # nobody disabled it
        held.listen()  # the upstream is back (the kernel accepts into its backlog)
        wait_for(lambda: not refused(), 5, what="the proxy listening again")


def test_bandwidth_bounds_throughput(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    listen = api.create("thin", echo)["listen"]
    api.toxic("thin", type="bandwidth", attributes={"rate": 100})  # 100 KB/s downstream
    with connect(listen) as sock:
        assert round_trip(sock, b"x" * 50_000) >= 0.45  # 50 KB at 100 KB/s: 0.5 s
    api.call("DELETE", "/proxies/thin/toxics/bandwidth_downstream")
    with connect(listen) as sock:
        assert round_trip(sock, b"x" * 50_000) < 0.45


def test_limit_data_closes_after_the_limit(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    listen = api.create("lim", echo)["listen"]
    api.toxic("lim", type="limit_data", attributes={"bytes": 10})
    with connect(listen) as sock:
        sock.sendall(b"0123456789abcdef")
        assert read_until_closed(sock) == b"0123456789"


def test_slicer_cuts_data_into_spaced_pieces(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    listen = api.create("slices", echo)["listen"]
    api.toxic("slices", type="slicer", attributes={"average_size": 10, "size_variation": 0, "delay": 30_000})
    with connect(listen) as sock:
        started = time.monotonic()
        sock.sendall(bytes(range(100)))
        first = sock.recv(100)
        received = first
        while len(received) < 100:
            received += sock.recv(100)
        elapsed = time.monotonic() - started
    assert received == bytes(range(100))  # nothing lost, nothing reordered
    assert len(first) == 10
    assert elapsed >= 0.9 * 9 * 0.030  # nine gaps of 30 ms


def test_slow_close_delays_the_close(fault_proxy: FaultProxy, echo: str) -> None:
    api = fault_proxy
    listen = api.create("linger", echo)["listen"]
    api.toxic("linger", type="slow_close", attributes={"delay": 300})
    with connect(listen) as sock:
        round_trip(sock)
        started = time.monotonic()
        sock.sendall(b"CLOSE")  # the echo server closes
        assert read_until_closed(sock) == b""
        assert time.monotonic() - started >= 0.27


# --- a real dependency: redis-server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(10) == b"+PONG\r\n"
            except OSError:
                return False

        wait_for(answers, 10, what="redis-server answering PING")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_redis_through_the_proxy_slow_blackholed_reset(fault_proxy: FaultProxy, redis_upstream: str) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    api = fault_proxy
    port = int(api.create("redis", redis_upstream)["listen"].rsplit(":", 1)[1])
    once = Retry(NoBackoff(), 0)  # redis-py retries by default; each fault must show on the first try
    client = redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=2, retry=once)
    try:
        client.set("k", "v")
        assert client.get("k") == b"v"
        api.toxic("redis", name="lag", type="latency", attributes={"latency": 150})
        started = time.monotonic()
        assert client.get("k") == b"v"
        assert time.monotonic() - started >= 0.135
        api.call("DELETE", "/proxies/redis/toxics/lag")
        api.toxic("redis", name="hole", type="timeout", attributes={"timeout": 0})
        with pytest.raises(redis.TimeoutError):
            client.get("k")
        api.call("DELETE", "/proxies/redis/toxics/hole")
        api.toxic("redis", name="rst", type="reset_peer", attributes={"timeout": 0}, stream="upstream")
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=port, socket_timeout=2, retry=once).ping()
        api.call("POST", "/reset")
        assert client.get("k") == b"v"
    finally:
        client.close()


# --- the entry point ----------------------------------------------------------------------------------------------


def test_entry_point_refuses_non_loopback_and_stops_cleanly_on_sigterm(echo: str) -> None:
    refused = subprocess.run([sys.executable, "-m", "gameday.proxy", "--host", "0.0.0.0"], capture_output=True,
                             text=True, timeout=PROXY_START_S)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "127.0.0.0/8" in refused.stderr and not refused.stdout
    proc = start_fault_proxy()
    try:
        api = FaultProxy(proc, api_url(proc))
        listen = api.create("bye", echo)["listen"]
        live = connect(listen)
        round_trip(live)
    finally:
        code = stop_fault_proxy(proc)
    assert code == 0
    assert closed_by_peer(live)
    live.close()
    with pytest.raises(ConnectionRefusedError):
        connect(listen)
