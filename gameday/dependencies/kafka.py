"""Kafka: an ApiVersions (v0) request, what ``kafka-broker-api-versions`` sends first (no client library needed)."""

from __future__ import annotations

import socket
import struct
import time

from gameday.dependencies.base import Address, DependencyCheck, DependencyKind


class Kafka(DependencyKind):
    kind = "kafka"
    label = "Kafka"
    default_port = 9092
    words = ("kafka",)
    programs = ("kafka-broker-api-versions", "kafka-broker-api-versions.sh")
    address_option = ("--bootstrap-server", "bootstrap")

    def placeholders(self, address: Address) -> dict[str, str]:
        return {**super().placeholders(address), "bootstrap": f"{address.host}:{address.port}"}

    def check(self, name: str, address: Address, timeout: float) -> DependencyCheck:
        shown = f"kafka ApiVersions --bootstrap-server {address.host}:{address.port}"
        start = time.monotonic()
        client_id = b"gameday"
        body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
        try:
            with socket.create_connection((address.host, address.port), timeout=timeout) as sock:
                sock.settimeout(timeout)
                sock.sendall(struct.pack(">i", len(body)) + body)
                (size,) = struct.unpack(">i", _recv_exact(sock, 4))
                payload = _recv_exact(sock, size)
        except (OSError, ConnectionError) as exc:
            reason = "Connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc) or type(exc).__name__
            return DependencyCheck(name, False, time.monotonic() - start, reason, shown)
        correlation, error_code, count = struct.unpack(">ihi", payload[:10])
        latency = time.monotonic() - start
        if correlation != 1 or error_code != 0:
            return DependencyCheck(name, False, latency, f"ApiVersions error code {error_code}", shown)
        return DependencyCheck(name, True, latency, f"{count} API versions", shown)

    def command(self, address: Address) -> str:
        return f"kafka-broker-api-versions --bootstrap-server {address.host}:{address.port}"


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        data += chunk
    return data
