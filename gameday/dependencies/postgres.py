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
        wait = max(1, int(timeout))
        cmd = ["pg_isready", "-h", address.host, "-p", str(address.port), "-t", str(wait)]
        check = _named(run_check(name, cmd, timeout), name)
        if not check.ok and check.latency_s >= 0.9 * wait and "no answer within" not in check.detail:
            # pg_isready says "no response" alike when refused and when it waited out -t: the wait tells a hang
            return DependencyCheck(name, False, check.latency_s, f"no answer within {wait:.1f}s ({check.detail})",
                                   check.command)
        return check

    def command(self, address: Address) -> str:
        return f"pg_isready -h {address.host} -p {address.port}"


def _named(check: DependencyCheck, name: str) -> DependencyCheck:
    return check if check.name == name else DependencyCheck(name, check.ok, check.latency_s, check.detail,
                                                            check.command)
