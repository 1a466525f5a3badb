"""Small readiness probes used by the local target: TCP connect, HTTP GET, and the runbook's step-3 checks."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time

import httpx

from gameday.targets.base import DependencyCheck


def tcp_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    """Whether something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 0.5) -> int | None:
    """The HTTP status of a GET, or None when nothing answered in time."""
    try:
        return httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError:
        return None


def _run_check(name: str, cmd: list[str], timeout: float, ok_output: str | None = None) -> DependencyCheck:
    shown = " ".join(cmd)
    if not shutil.which(cmd[0]):
        return DependencyCheck(name, False, 0.0, f"{cmd[0]} not installed", shown)
    start = time.monotonic()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return DependencyCheck(name, False, time.monotonic() - start, f"no answer within {timeout:.1f}s", shown)
    latency = time.monotonic() - start
    out = (res.stdout + res.stderr).strip().replace("\n", " ")
    ok = res.returncode == 0 and (ok_output is None or ok_output in res.stdout)
    return DependencyCheck(name, ok, latency, out or f"exit {res.returncode}", shown)


def pg_isready(host: str, port: int, timeout: float) -> DependencyCheck:
    """``pg_isready -h HOST -p PORT``: exit 0 accepting, 1 rejecting, 2 no response."""
    return _run_check(
        "postgres", ["pg_isready", "-h", host, "-p", str(port), "-t", str(max(1, int(timeout)))], timeout
    )


def redis_ping(host: str, port: int, timeout: float) -> DependencyCheck:
    """``redis-cli -h HOST ping`` answering PONG."""
    return _run_check("redis", ["redis-cli", "-h", host, "-p", str(port), "ping"], timeout, ok_output="PONG")


def kafka_api_versions(host: str, port: int, timeout: float) -> DependencyCheck:
    """A Kafka ApiVersions (v0) request, what ``kafka-broker-api-versions`` sends first."""
    shown = f"kafka ApiVersions --bootstrap-server {host}:{port}"
    start = time.monotonic()
    client_id = b"gameday"
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(sock, 4)
            (size,) = struct.unpack(">i", header)
            payload = _recv_exact(sock, size)
    except (OSError, ConnectionError) as exc:
        reason = "Connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc) or type(exc).__name__
        return DependencyCheck("kafka", False, time.monotonic() - start, reason, shown)
    correlation, error_code, count = struct.unpack(">ihi", payload[:10])
    latency = time.monotonic() - start
    if correlation != 1 or error_code != 0:
        return DependencyCheck("kafka", False, latency, f"ApiVersions error code {error_code}", shown)
    return DependencyCheck("kafka", True, latency, f"{count} API versions", shown)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        data += chunk
    return data
