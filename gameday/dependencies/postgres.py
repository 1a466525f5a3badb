"""PostgreSQL: ``pg_isready`` opens a new connection, so a frozen postmaster fails it while pooled ones still work."""

from __future__ import annotations

from urllib.parse import quote

from gameday.dependencies.base import Address, DependencyCheck, DependencyKind, run_check


class Postgres(DependencyKind):
    kind = "postgres"
    label = "PostgreSQL"
    default_port = 5432
    words = ("postgres", "postgresql", "database", "asyncpg", "psycopg", "db_host")
    programs = ("pg_isready", "psql")

    def placeholders(self, address: Address) -> dict[str, str]:
        auth = quote(address.user, safe="")
        if address.password:
            auth += ":" + quote(address.password, safe="")
        dsn = f"postgresql://{auth}@{address.host}:{address.port}/{address.database}"
        return {**super().placeholders(address), "dsn": dsn, "database": address.database, "user": address.user,
                "password": address.password}

    def check(self, name: str, address: Address, timeout: float) -> DependencyCheck:
        cmd = ["pg_isready", "-h", address.host, "-p", str(address.port), "-t", str(max(1, int(timeout)))]
        return _named(run_check(name, cmd, timeout), name)

    def command(self, address: Address) -> str:
        return f"pg_isready -h {address.host} -p {address.port}"


def _named(check: DependencyCheck, name: str) -> DependencyCheck:
    return check if check.name == name else DependencyCheck(name, check.ok, check.latency_s, check.detail,
                                                            check.command)
