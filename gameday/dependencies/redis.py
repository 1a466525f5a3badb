"""Redis: ``redis-cli ping`` on a new connection answers PONG."""

from __future__ import annotations

from gameday.dependencies.base import Address, DependencyCheck, DependencyKind, run_check


class Redis(DependencyKind):
    kind = "redis"
    label = "Redis"
    default_port = 6379
    words = ("redis",)
    programs = ("redis-cli",)

    def placeholders(self, address: Address) -> dict[str, str]:
        return {**super().placeholders(address), "url": f"redis://{address.host}:{address.port}/0"}

    def check(self, name: str, address: Address, timeout: float) -> DependencyCheck:
        cmd = ["redis-cli", "-h", address.host, "-p", str(address.port), "ping"]
        return run_check(name, cmd, timeout, ok_output="PONG")

    def command(self, address: Address) -> str:
        return f"redis-cli -h {address.host} -p {address.port} ping"
