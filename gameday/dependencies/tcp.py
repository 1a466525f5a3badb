"""A TCP dependency: something accepts a new connection on host:port."""

from __future__ import annotations

import socket
import time

from gameday.dependencies.base import Address, DependencyCheck, DependencyKind


class Tcp(DependencyKind):
    kind = "tcp"
    label = "TCP service"
    default_port = 0
    words = ()

    def check(self, name: str, address: Address, timeout: float) -> DependencyCheck:
        start = time.monotonic()
        try:
            with socket.create_connection((address.host, address.port), timeout=timeout):
                pass
        except OSError as exc:
            reason = "Connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc) or "timed out"
            return DependencyCheck(name, False, time.monotonic() - start, reason, self.command(address))
        return DependencyCheck(name, True, time.monotonic() - start, "connected", self.command(address))

    def command(self, address: Address) -> str:
        return f"nc -z {address.host} {address.port}"
