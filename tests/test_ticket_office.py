"""ticket-office, the second reference service: real processes, real HTTP, real PostgreSQL and Redis.

The quick tests need no dependency (configuration errors, unreachable dependencies). The slow ones
start a throwaway PostgreSQL cluster and redis-server of their own on free loopback ports, never the
local stack's, and stop them afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.helpers import wait_for

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
DB_PASSWORD = "pw-not-in-logs-7f3a"  # trust auth ignores it; it must still never be logged
LB_SERVER_TIMEOUT_S = 2.0  # HAProxy's server timeout: a dependency outage must be a 503 before it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# PostgreSQL refuses to run as root. Dropping to its user in the child (not through runuser, which
# stops itself when its child is stopped) keeps the server our direct child.
AS_POSTGRES: dict[str, str] = {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


class Postgres:
    """A throwaway PostgreSQL 15 cluster (trust auth, user ``app``, database ``tickets``)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ticket-office-pg-", dir="/var/tmp"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        (self.root / "run").mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.root / "run", "postgres", "postgres")
        subprocess.run([str(PG_BIN / "initdb"), "-D", str(self.root / "data"), "-U", "app", "--auth=trust",
                        "--no-sync"], check=True, capture_output=True, timeout=60, cwd=self.root, **AS_POSTGRES)
        try:
            self.start()
            self.createdb("tickets")
        except BaseException:
            self.destroy()
            raise

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(self.root / "data"), "-p", str(self.port),
             "-k", str(self.root / "run"), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.root, **AS_POSTGRES)
        wait_for(lambda: subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode == 0,
                 20, what="postgres accepting connections")

    def _signal_all(self, signum: int) -> None:
        """Signal the postmaster and every backend (each backend is a session of its own: no killpg)."""
        assert self.proc is not None
        postmaster = self.proc.pid
        pids = [postmaster]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            if int(fields[1]) == postmaster:  # the parent pid
                pids.append(int(stat.parent.name))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def createdb(self, name: str) -> None:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "app", name], check=True,
                       timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._signal_all(signal.SIGCONT)
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def hang(self) -> None:
        """Freeze the postmaster and every backend (pooled connections hang too), like a frozen host."""
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_all(signal.SIGCONT)

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, database: str = "tickets") -> str:
        return f"postgresql://app:{DB_PASSWORD}@127.0.0.1:{self.port}/{database}"


class RedisServer:
    """A throwaway redis-server without persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                                        text=True).stdout.strip() == "PONG", 10, what="redis answering PING")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def hang(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def config_text(*, dsn: str, redis_url: str, version: str = "2.0.0") -> str:
    return (f'[server]\ninstance = "ticket-office-0"\nreadiness_interval_ms = 200\n\n'
            f'[database]\ndsn = "{dsn}"\n\n[redis]\nurl = "{redis_url}"\n\n[release]\nversion = "{version}"\n')


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sut.ticket_office", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


class Service:
    """One ticket-office process, serving on a free port (given with ``--port``)."""

    def __init__(self, workdir: Path, config: str, overlay: str | None = None) -> None:
        self.port = free_port()
        self.config_file = workdir / f"ticket-office-{self.port}.toml"
        self.config_file.write_text(config)
        overlay_args: list[str] = []
        if overlay is not None:
            overlay_file = workdir / f"overlay-{self.port}.toml"
            overlay_file.write_text(overlay)
            overlay_args = ["--config", str(overlay_file)]
        self.log_file = workdir / f"ticket-office-{self.port}.log"
        with self.log_file.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sut.ticket_office", "--config", str(self.config_file), *overlay_args,
                 "--port", str(self.port)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5)
        wait_for(self._alive, 20, what="ticket-office answering /_status/alive")

    def _alive(self) -> bool:
        assert self.proc.poll() is None, f"ticket-office exited: {self.logs()[-2000:]}"
        try:
            return self.http.get("/_status/alive").status_code == 200
        except httpx.TransportError:
            return False

    def ready_status(self) -> int:
        return self.http.get("/_status/ready").status_code

    def login(self, user: str = "alice") -> dict[str, str]:
        response = self.http.post("/v2/sessions", json={"user": user})
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def logs(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self) -> int:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """The call's result and how long it took, in seconds."""
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start ticket-office processes with ``services(config_text)``; all are stopped after the test."""
    started: list[Service] = []

    def start(config: str, overlay: str | None = None) -> Service:
        service = Service(tmp_path, config, overlay)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def migrate(pg: Postgres, workdir: Path) -> None:
    config = workdir / f"migrate-{pg.port}.toml"
    config.write_text(config_text(dsn=pg.dsn(), redis_url="redis://127.0.0.1:1/0"))  # migrate needs no Redis
    migrated = run_cli("migrate", "--config", str(config))
    assert migrated.returncode == 0, migrated.stderr
    assert "(5 event(s) seeded)" in migrated.stdout


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """A migrated database shared by the module's slow tests (they only add rows)."""
    pg = Postgres()
    try:
        migrate(pg, tmp_path_factory.mktemp("ticket-office-migrate"))
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def healthy(postgres: Postgres, redis_server: RedisServer, services: Callable[..., Service]) -> Service:
    """A ready ticket-office on the module's database and this test's Redis."""
    service = services(config_text(dsn=postgres.dsn(), redis_url=redis_server.url))
    wait_for(lambda: service.ready_status() == 200, 15, what="ticket-office ready")
    return service


# --- quick: no dependency needed ------------------------------------------------------------------

@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot read"),
    ("[server\nport = 1", "not valid TOML"),
    ('[server]\nport = "8080"\n', "[server] port: Input should be a valid integer"),
    ("[server]\ncolour = 1\n", "[server] colour: unknown key"),
    ("[kafka]\nbootstrap = 1\n", "[kafka]: unknown section"),
    (f'[database]\ndsn = "postgresql://app:{DB_PASSWORD}@h:5432/db"\nhost = "h"\n', "either dsn or host"),
    (f'[database]\ndsn = "mysql://app:{DB_PASSWORD}@h/db"\n', "dsn must look like postgresql://"),
    ('[database]\npassword = 5\n', "[database] password: Input should be a valid string"),
    (f'[database]\ndsn = "postgresql://app:{DB_PASSWORD}@h:x/db"\n', "dsn: the port is not a number"),
    (f'[database]\npassword = "{DB_PASSWORD}"\nport = "5432"\n', "[database] port: Input should be a valid"),
    ('[release]\nextra_latency_ms = -1\n', "[release] extra_latency_ms"),
])
def test_a_configuration_error_is_one_line_on_stderr_and_exit_2(tmp_path, content, expected):
    config = tmp_path / "ticket-office.toml"
    if content is not None:
        config.write_text(content)
    for command in ((), ("migrate",)):
        result = run_cli(*command, "--config", str(config), timeout=30)
        assert result.returncode == 2, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ticket-office: configuration error: ")
        assert expected in lines[0]
        assert DB_PASSWORD not in result.stderr and "Traceback" not in result.stderr
        assert result.stdout == ""


def test_an_error_in_an_overlay_file_names_that_file(tmp_path):
    base, overlay = tmp_path / "base.toml", tmp_path / "slow.toml"
    base.write_text('[server]\nport = 8080\n[release]\nversion = "2.0.0"\n')
    overlay.write_text('[release]\nextra_latency_ms = "150"\n')
    result = run_cli("--config", str(base), "--config", str(overlay), timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"ticket-office: configuration error: {overlay}: [release] extra_latency_ms: "
                                     f"Input should be a valid integer (got '150')")


def test_a_bad_command_line_exits_2(tmp_path):
    assert run_cli("--config", str(tmp_path / "x.toml"), "--port", "70000", timeout=30).returncode == 2
    assert run_cli("deploy", "--config", str(tmp_path / "x.toml"), timeout=30).returncode == 2
    assert run_cli(timeout=30).returncode == 2  # --config is required


def test_migrate_reports_an_unreachable_database_in_one_line(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(config_text(dsn=f"postgresql://app:{DB_PASSWORD}@127.0.0.1:{free_port()}/tickets",
                                  redis_url="redis://127.0.0.1:1/0"))
    result = run_cli("migrate", "--config", str(config), "--wait", "0.5", timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ticket-office: migrate failed: Connection refused (127.0.0.1:")
    assert DB_PASSWORD not in result.stderr


def test_without_dependencies_it_lives_is_not_ready_fails_fast_and_stops_cleanly(services):
    service = services(config_text(dsn=f"postgresql://app:{DB_PASSWORD}@127.0.0.1:{free_port()}/tickets",
                                   redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    alive = service.http.get("/_status/alive")
    assert alive.status_code == 200 and alive.json()["alive"] is True and alive.json()["version"] == "2.0.0"

    def both_failing() -> bool:
        response = service.http.get("/_status/ready")
        return response.status_code == 503 and response.json()["failing"] == ["postgres", "redis"]

    wait_for(both_failing, 10, what="readiness failing on both dependencies")
    body = service.http.get("/_status/ready").json()
    assert body["ready"] is False and "Connection refused" in body["checks"]["postgres"]["error"]
    for method, path in (("GET", "/v2/events"), ("POST", "/v2/sessions")):
        response, elapsed = timed(lambda m=method, p=path: service.http.request(m, p, json={"user": "a"}))
        assert response.status_code == 503 and elapsed < LB_SERVER_TIMEOUT_S
        assert response.json()["error"]["code"] == "unavailable" and response.headers["retry-after"] == "1"
    assert service.stop() == 0
    lines = [json.loads(line) for line in service.logs().splitlines()]  # every line is one JSON object
    assert any("503 service unavailable" in line["msg"] for line in lines)
    assert DB_PASSWORD not in service.logs()


# --- slow: a real PostgreSQL and Redis ------------------------------------------------------------

@pytest.mark.slow
def test_migrate_is_idempotent(postgres, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(config_text(dsn=postgres.dsn(), redis_url="redis://127.0.0.1:1/0"))
    again = run_cli("migrate", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert "(0 event(s) seeded)" in again.stdout and DB_PASSWORD not in again.stdout


@pytest.mark.slow
def test_the_whole_journey_with_captured_ids(healthy):
    http = healthy.http
    login = http.post("/v2/sessions", json={"user": "alice"})
    assert login.status_code == 201
    token = login.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    listing = http.get("/v2/events").json()
    assert listing["count"] == len(listing["data"]) >= 4
    event_id = listing["data"][0]["event_id"]
    assert isinstance(event_id, str) and event_id.startswith("evt-")
    event = http.get(f"/v2/events/{event_id}").json()["event"]
    assert event["event_id"] == event_id and event["title"] == listing["data"][0]["title"]
    hold = http.post(f"/v2/events/{event_id}/holds", json={"seats": 2}, headers=auth)
    assert hold.status_code == 201
    hold_id = hold.json()["hold"]["hold_id"]
    assert hold.json()["hold"]["status"] == "held" and hold.json()["hold"]["seats"] == 2
    assert http.get(f"/v2/events/{event_id}").json()["event"]["seats_left"] == event["seats_left"] - 2
    purchase = http.post(f"/v2/holds/{hold_id}/purchase", headers=auth)
    assert purchase.status_code == 201
    ticket = purchase.json()["ticket"]
    assert ticket["status"] == "issued" and ticket["hold_id"] == hold_id and ticket["event_id"] == event_id
    fetched = http.get(f"/v2/tickets/{ticket['ticket_id']}", headers=auth)
    assert fetched.status_code == 200 and fetched.json()["ticket"] == ticket

    metrics = http.get("/metrics").text
    assert 'http_requests_total{method="POST",route="/v2/holds/{hold_id}/purchase",status="201"} 1.0' in metrics
    assert 'http_request_duration_seconds_count{route="/v2/tickets/{ticket_id}",status="200"} 1.0' in metrics
    assert 'dependency_up{dependency="redis"} 1.0' in metrics
    logs = healthy.logs()
    assert f"/v2/tickets/{ticket['ticket_id']}" in logs  # one line per request...
    assert token not in logs and DB_PASSWORD not in logs  # ...and never a secret


@pytest.mark.slow
def test_unknown_ids_and_paths_are_404(healthy):
    auth = healthy.login()
    http = healthy.http
    assert http.get("/v2/events/evt-404").status_code == 404
    assert http.get("/v2/events/evt-404").json()["error"]["code"] == "event_not_found"
    assert http.post("/v2/events/evt-404/holds", headers=auth).status_code == 404
    assert http.post("/v2/holds/hold-404/purchase", headers=auth).status_code == 404
    assert http.get("/v2/tickets/tkt-404", headers=auth).status_code == 404
    assert http.get("/api/products").status_code == 404  # not ecommerce-backend
    assert http.get("/v2/nothing-here").json()["error"]["code"] == "not_found"


@pytest.mark.slow
def test_authentication_failures_are_401_and_others_holds_are_invisible(healthy):
    http = healthy.http
    event_id = http.get("/v2/events").json()["data"][0]["event_id"]
    for headers in ({}, {"Authorization": "Basic YWxpY2U6eA=="}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer not-a-real-token"}):
        for method, path in (("POST", f"/v2/events/{event_id}/holds"), ("POST", "/v2/holds/hold-x/purchase"),
                             ("GET", "/v2/tickets/tkt-x")):
            response = http.request(method, path, headers=headers)
            assert response.status_code == 401, (headers, path)
            assert response.headers["www-authenticate"] == "Bearer"
    alice, mallory = healthy.login("alice"), healthy.login("mallory")
    hold_id = http.post(f"/v2/events/{event_id}/holds", headers=alice).json()["hold"]["hold_id"]
    assert http.post(f"/v2/holds/{hold_id}/purchase", headers=mallory).status_code == 404
    ticket_id = http.post(f"/v2/holds/{hold_id}/purchase", headers=alice).json()["ticket"]["ticket_id"]
    assert http.get(f"/v2/tickets/{ticket_id}", headers=mallory).status_code == 404
    assert http.get(f"/v2/tickets/{ticket_id}", headers=alice).status_code == 200


@pytest.mark.slow
def test_conflicts_are_409_and_bad_bodies_400(healthy):
    http = healthy.http
    auth = healthy.login()
    sold_out = [e for e in http.get("/v2/events").json()["data"] if e["seats_left"] == 0]
    assert sold_out, "the seed has a sold-out event"
    response = http.post(f"/v2/events/{sold_out[0]['event_id']}/holds", headers=auth)
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_enough_seats"
    hold_id = http.post("/v2/events/evt-1/holds", headers=auth).json()["hold"]["hold_id"]
    assert http.post(f"/v2/holds/{hold_id}/purchase", headers=auth).status_code == 201
    assert http.post(f"/v2/holds/{hold_id}/purchase", headers=auth).status_code == 409
    for body in ({"seats": 0}, {"seats": 11}, {"seats": "2"}, {"seat": 1}):
        assert http.post("/v2/events/evt-1/holds", json=body, headers=auth).status_code == 400, body
    for content in (b"{not json", b'{"user": ""}', b'{"user": 7}', b"{}"):
        assert http.post("/v2/sessions", content=content).status_code == 400, content


@pytest.mark.slow
def test_redis_down_means_not_ready_and_no_authentication_until_it_returns(healthy, redis_server):
    auth = healthy.login()
    redis_server.stop()
    wait_for(lambda: healthy.ready_status() == 503, 10, what="not ready without redis")
    body = healthy.http.get("/_status/ready").json()
    assert body["failing"] == ["redis"] and "Connection refused" in body["checks"]["redis"]["error"]
    assert healthy.http.get("/_status/alive").status_code == 200
    for response in (healthy.http.post("/v2/sessions", json={"user": "bob"}),
                     healthy.http.get("/v2/tickets/tkt-1", headers=auth)):
        assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
    assert healthy.http.get("/v2/events").status_code == 200  # needs PostgreSQL only
    assert "redis: ping: Connection refused" in healthy.logs()
    redis_server.start()  # same port, empty: the old session is gone
    wait_for(lambda: healthy.ready_status() == 200, 10, what="ready again after redis returns")
    assert healthy.http.get("/v2/tickets/tkt-1", headers=auth).status_code == 401
    assert healthy.http.get("/v2/tickets/tkt-1", headers=healthy.login()).status_code == 404


@pytest.mark.slow
def test_a_hung_redis_costs_a_503_before_the_load_balancer_times_out(healthy, redis_server):
    auth = healthy.login()
    redis_server.hang()
    try:
        wait_for(lambda: healthy.ready_status() == 503, 10, what="not ready with redis hung")
        ready, elapsed = timed(lambda: healthy.http.get("/_status/ready"))
        assert ready.status_code == 503 and "timed out" in ready.json()["checks"]["redis"]["error"]
        assert elapsed < 0.5  # the probe reads the background check's result, it never waits on redis
        response, elapsed = timed(lambda: healthy.http.get("/v2/tickets/tkt-1", headers=auth))
        assert response.status_code == 503 and elapsed < LB_SERVER_TIMEOUT_S
    finally:
        redis_server.resume()
    wait_for(lambda: healthy.ready_status() == 200, 10, what="ready again after redis resumes")
    assert healthy.http.get("/v2/tickets/tkt-1", headers=auth).status_code == 404


@pytest.mark.slow
def test_postgres_down_or_hung_means_not_ready_and_503_then_recovery(redis_server, services, tmp_path):
    pg = Postgres()
    try:
        migrate(pg, tmp_path)
        service = services(config_text(dsn=pg.dsn(), redis_url=redis_server.url))
        wait_for(lambda: service.ready_status() == 200, 15, what="ready")
        assert service.http.get("/v2/events").status_code == 200  # the pool holds a connection now

        pg.hang()  # postmaster and backends frozen: pooled connections hang too
        wait_for(lambda: service.ready_status() == 503, 10, what="not ready with postgres hung")
        response, elapsed = timed(lambda: service.http.get("/v2/events"))
        assert response.status_code == 503 and elapsed < LB_SERVER_TIMEOUT_S
        assert "timed out" in service.http.get("/_status/ready").json()["checks"]["postgres"]["error"]
        pg.resume()
        wait_for(lambda: service.ready_status() == 200, 15, what="ready after postgres resumes")
        assert service.http.get("/v2/events").status_code == 200

        pg.stop()
        wait_for(lambda: service.ready_status() == 503, 10, what="not ready with postgres stopped")
        assert service.http.get("/_status/ready").json()["failing"] == ["postgres"]
        assert service.http.get("/v2/events").status_code == 503
        assert service.http.post("/v2/sessions", json={"user": "a"}).status_code == 201  # redis only
        pg.start()
        wait_for(lambda: service.ready_status() == 200, 15, what="ready after postgres restarts")
        wait_for(lambda: service.http.get("/v2/events").status_code == 200, 5, what="events served again")
    finally:
        pg.destroy()


@pytest.mark.slow
def test_a_wrong_database_host_fails_readiness(redis_server, services):
    service = services(config_text(dsn=f"postgresql://app:{DB_PASSWORD}@127.0.0.1:{free_port()}/tickets",
                                   redis_url=redis_server.url))
    wait_for(lambda: service.http.get("/_status/ready").json()["checks"]["redis"]["ok"], 10, what="redis checked")
    ready = service.http.get("/_status/ready")
    assert ready.status_code == 503 and ready.json()["failing"] == ["postgres"]
    assert service.http.get("/_status/alive").status_code == 200
    assert service.http.get("/v2/events").status_code == 503
    assert DB_PASSWORD not in service.logs() and DB_PASSWORD not in ready.text


@pytest.mark.slow
def test_a_database_without_the_schema_is_not_ready_until_migrated(postgres, redis_server, services):
    postgres.createdb("unmigrated")
    config = config_text(dsn=postgres.dsn("unmigrated"), redis_url=redis_server.url)
    service = services(config)

    def schema_missing() -> bool:
        error = service.http.get("/_status/ready").json()["checks"]["postgres"]["error"] or ""
        return "schema missing" in error

    wait_for(schema_missing, 10, what="readiness reporting the missing schema")
    assert service.ready_status() == 503 and service.http.get("/v2/events").status_code == 503
    assert run_cli("migrate", "--config", str(service.config_file)).returncode == 0
    wait_for(lambda: service.ready_status() == 200, 10, what="ready once migrated")
    assert service.http.get("/v2/events").json()["count"] >= 4


@pytest.mark.slow
def test_the_bad_release_passes_its_probes_then_fails_every_api_call(postgres, redis_server, services):
    service = services(config_text(dsn=postgres.dsn(), redis_url=redis_server.url, version="2.1.0-bad"))
    wait_for(lambda: service.ready_status() == 200, 15, what="bad release ready")
    assert service.http.get("/_status/alive").json()["version"] == "2.1.0-bad"
    auth = {"Authorization": "Bearer whatever"}
    for method, path in (("POST", "/v2/sessions"), ("GET", "/v2/events"), ("GET", "/v2/events/evt-1"),
                         ("POST", "/v2/events/evt-1/holds"), ("POST", "/v2/holds/h/purchase"),
                         ("GET", "/v2/tickets/t")):
        response = service.http.request(method, path, json={"user": "a"}, headers=auth)
        assert response.status_code == 500, path
        assert response.json()["error"]["code"] == "internal"
    assert service.ready_status() == 200 and service.http.get("/metrics").status_code == 200
    assert 'http_requests_total{method="GET",route="/v2/events",status="500"} 1.0' in service.http.get("/metrics").text
    errors = [json.loads(line) for line in service.logs().splitlines() if '"level": "error"' in line]
    assert any("KnownBadReleaseError" in line.get("error", "") for line in errors)
    assert service.stop() == 0


@pytest.mark.slow
def test_extra_latency_slows_every_api_answer_but_not_the_probes(postgres, redis_server, services):
    # the slow release as an overlay on the normal configuration, as a profile would render it
    service = services(config_text(dsn=postgres.dsn(), redis_url=redis_server.url),
                       overlay='[release]\nversion = "2.1.0-slow"\nextra_latency_ms = 400\n')
    wait_for(lambda: service.ready_status() == 200, 15, what="slow release ready")
    assert service.http.get("/_status/alive").json()["version"] == "2.1.0-slow"
    events, api_elapsed = timed(lambda: service.http.get("/v2/events"))
    assert events.status_code == 200 and api_elapsed >= 0.4
    login, login_elapsed = timed(lambda: service.http.post("/v2/sessions", json={"user": "a"}))
    assert login.status_code == 201 and login_elapsed >= 0.4
    alive, alive_elapsed = timed(lambda: service.http.get("/_status/alive"))
    assert alive.status_code == 200 and alive_elapsed < api_elapsed
    metrics = service.http.get("/metrics").text
    assert 'http_request_duration_seconds_bucket{le="0.25",route="/v2/events",status="200"} 0.0' in metrics
