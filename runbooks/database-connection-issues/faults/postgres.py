"""A superuser session on the service's PostgreSQL: what the runbook's faults act through.

The target hands it out (``Target.dependency_admin``): on the local target, the Unix socket of the PostgreSQL it
runs, which it trusts; a target that offers none (Kubernetes) says why, and these faults are not applicable there.
A fault never connects through the service's TCP address for its own session (it may pass through the fault proxy,
and a fault may change how it authenticates). Also here: what both faults share (which dependencies they apply
to, waiting until PostgreSQL accepts a new connection again).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from gameday import interrupts
from gameday.faults.base import DependencyFault
from gameday.targets.model import TargetError

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target
    from gameday.targets.model import DependencyAdmin

ADMIN_APPLICATION = "gameday-fault-admin"  # the application_name of the faults' own sessions (never evidence)
CONNECT_TIMEOUT_S = 5
ON_KUBERNETES = ("needs a superuser session on PostgreSQL (Target.dependency_admin), which the kubernetes target "
                 "does not offer (its admin credentials are the database operator's)")


def _kwargs(session: DependencyAdmin, host: str, application: str) -> dict[str, Any]:
    return {"host": host, "port": session.port, "user": session.user, "dbname": session.database,
            "application_name": application, "connect_timeout": CONNECT_TIMEOUT_S, "autocommit": True}


def admin_kwargs(target: Target, dependency: str, application: str = ADMIN_APPLICATION) -> dict[str, Any]:
    """psycopg connection arguments for the target's superuser session to ``dependency``."""
    session = target.dependency_admin(dependency)
    return _kwargs(session, session.host, application)


def admin(target: Target, dependency: str) -> psycopg.Connection[Any]:
    """An autocommit superuser session (close it: ``with admin(...) as conn``)."""
    return psycopg.connect(**admin_kwargs(target, dependency))


def tcp_kwargs(target: Target, dependency: str, application: str) -> dict[str, Any]:
    """Arguments for a connection the way the service makes one: TCP to the server itself, the same user and
    database (never through the fault proxy)."""
    session = target.dependency_admin(dependency)
    return _kwargs(session, session.client_host, application)


def files(target: Target, dependency: str) -> Path:
    """Where a fault keeps its own files for ``dependency`` (the target's, beside its state)."""
    return Path(target.dependency_admin(dependency).files)


def end_sessions(conn: psycopg.Connection[Any]) -> int:
    """End every client session on this database but gameday's own faults' (``gameday-`` application names):
    the service must open new connections, as after a pooler restart or its connections' recycling."""
    row = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = "
                       "'client backend' AND datname = current_database() AND pid <> pg_backend_pid() "
                       "AND application_name NOT LIKE 'gameday-%'").fetchone()
    return int(row[0]) if row else 0


def postgres_only(fault: DependencyFault, params: dict[str, Any], profile: Profile,
                  target_kind: str | None) -> str | None:
    """Why a PostgreSQL-session fault cannot run here: a target that offers no superuser session, or not a
    PostgreSQL dependency."""
    reason = DependencyFault.not_applicable(fault, params, profile, target_kind)
    if reason:
        return reason
    if target_kind == "kubernetes":
        return f"{fault.name} {ON_KUBERNETES}"
    if profile.dependency(params["dependency"]).kind != "postgres":
        return f"{params['dependency']} is not PostgreSQL"
    return None


def wait_for_new_connection(target: Target, dependency: str, timeout_s: float) -> None:
    """Until PostgreSQL accepts a new connection as the service makes them (TargetError after ``timeout_s``)."""
    kwargs = {**tcp_kwargs(target, dependency, "gameday-fault-check"), "connect_timeout": 2}
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            psycopg.connect(**kwargs).close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise TargetError(f"{dependency} still refuses new connections after {timeout_s:.0f}s: "
                                  f"{' '.join(str(exc).split())[:160]}") from None
        interrupts.pause(0.2)
