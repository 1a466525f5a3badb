"""A superuser session on the local target's PostgreSQL: what the database-connection faults act through.

The local target runs PostgreSQL itself and trusts its Unix socket (``initdb --auth=trust``); the profile's
database user owns the cluster. A fault connects there, never through the service's TCP address (which may pass
through the fault proxy, and whose authentication a fault may change). The socket's folder and port come from the
local target's state directory (``Target.identity()["state_dir"]``): the Target protocol has no operation that
hands out a dependency's administrative address yet, so these faults are local-only and say so on Kubernetes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from gameday.targets.base import NotApplicableError

if TYPE_CHECKING:
    from gameday.targets.base import Target

ADMIN_APPLICATION = "gameday-fault-admin"  # the application_name of the faults' own sessions (never evidence)
CONNECT_TIMEOUT_S = 5
ON_KUBERNETES = ("needs a superuser session on PostgreSQL, which the Kubernetes target does not offer "
                 "(a Target operation such as dependency_admin(name) would)")


def state_dir(target: Target) -> Path:
    """The local target's state directory; NotApplicableError (nothing changed) on any other target."""
    identity = target.identity()
    if identity.get("kind") != "local" or not identity.get("state_dir"):
        raise NotApplicableError(f"this fault {ON_KUBERNETES}")
    return Path(str(identity["state_dir"]))


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def admin_kwargs(target: Target, dependency: str, application: str = ADMIN_APPLICATION) -> dict[str, Any]:
    """psycopg connection arguments for a superuser session over the Unix socket of ``dependency``."""
    root = state_dir(target)
    port = _json(root / "stack.json").get("ports", {}).get(dependency)
    record = _json(root / dependency / "gameday-database.json")
    if not port or not record.get("user"):
        raise NotApplicableError(f"{dependency} is not a PostgreSQL the local target runs (no port or database "
                                 f"record in {root})")
    return {"host": str(root / dependency / "run"), "port": int(port), "user": str(record["user"]),
            "dbname": str(record.get("database") or "postgres"), "application_name": application,
            "connect_timeout": CONNECT_TIMEOUT_S, "autocommit": True}


def admin(target: Target, dependency: str) -> psycopg.Connection[Any]:
    """An autocommit superuser session (close it: ``with admin(...) as conn``)."""
    return psycopg.connect(**admin_kwargs(target, dependency))


def tcp_kwargs(target: Target, dependency: str, application: str) -> dict[str, Any]:
    """Arguments for a connection the way the service makes one: TCP to 127.0.0.1, the same user and database."""
    kwargs = admin_kwargs(target, dependency, application)
    return {**kwargs, "host": "127.0.0.1"}


def end_sessions(conn: psycopg.Connection[Any]) -> int:
    """End every client session on this database but gameday's own faults' (``gameday-`` application names):
    the service must open new connections, as after a pooler restart or its connections' recycling."""
    row = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = "
                       "'client backend' AND datname = current_database() AND pid <> pg_backend_pid() "
                       "AND application_name NOT LIKE 'gameday-%'").fetchone()
    return int(row[0]) if row else 0
