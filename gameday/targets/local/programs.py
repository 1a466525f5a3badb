"""Programs of the local stack, as supervisor runs them, and the supervisor configuration they make."""

from __future__ import annotations

import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path

from gameday.alerts.rules import RunbookLink
from gameday.profile import Profile
from gameday.state import StateDir
from gameday.targets.local.service import RESERVED_NAMES, Service
from gameday.targets.model import TargetError


@dataclass(frozen=True)
class Program:
    """One long-running process of the local stack, kept alive by supervisor."""

    name: str  # supervisor program name, e.g. "postgres", "replica-0", "replica-0-worker"
    kind: str  # component kind shown by status: replica, process, load-balancer, postgres, redis, kafka, ...
    command: list[str]
    port: int  # 0: it listens on nothing (a worker)
    readiness: str = "tcp"  # "tcp" (port accepts), "http:/path" (answers 2xx) or "running" (supervisor says so)
    user: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    directory: str | None = None
    autostart: bool = True  # False: started by ``up`` once the dependencies are up and setup has run
    autorestart: str = "true"  # true | false | unexpected
    startsecs: int = 1
    startretries: int = 3
    stopsignal: str = "TERM"
    stopwaitsecs: int = 5
    priority: int = 500  # lower starts first
    pod: str | None = None  # the replica whose pod it is part of: started, stopped and signalled with it


@dataclass(frozen=True)
class StackContext:
    """What a component module needs to describe its programs."""

    state: StateDir
    ports: dict[str, int]  # component name -> port, e.g. "load-balancer", "replica-0", "postgres"
    replica_names: list[str]
    python: str  # the interpreter of this environment
    service: Service  # the profile's service on this stack: its replicas, configuration and dependencies
    runbook: RunbookLink  # the runbook the service's alerts link to (its caller looked the package up)

    @property
    def profile(self) -> Profile:
        """The service profile."""
        return self.service.profile

    @property
    def dependencies(self) -> dict[str, str]:
        """Name -> kind of the dependencies the stack runs itself (those with no ``address``)."""
        return {d.name: d.kind for d in self.profile.dependencies if d.provided}

    @property
    def replica_addresses(self) -> list[str]:
        """host:port of each replica."""
        return [f"127.0.0.1:{self.ports[name]}" for name in self.replica_names]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes(ctx: StackContext) -> list[Program]:
    """The profile's ``local.processes``: a worker beside each replica (in its pod), a scheduler once. Like the
    replicas, each runs the launcher on its spec (rendered at each start with its release) and is started by
    ``up`` after setup; it listens on nothing, so it is ready when supervisor says it runs."""
    taken = {*RESERVED_NAMES, *ctx.dependencies, *ctx.replica_names}
    out = []
    for name, process, replica in ctx.service.process_programs(ctx.replica_names):
        if replica is None and (name in taken or name.startswith("replica-")):
            raise TargetError(f"local.processes ({name}): the local stack names one of its own programs or "
                              "dependencies so; rename the process")
        local = ctx.service.local
        out.append(Program(
            name=name,
            kind="process",
            command=ctx.service.launcher(name, ctx.service.process_spec_path(process, replica)),
            port=0,
            readiness="running",
            directory=str(ctx.service.working_dir),
            autostart=False,
            startsecs=min(1, local.start_seconds),
            startretries=max(10, local.start_retries),  # a worker killed with its replica is restarted, not given up
            stopwaitsecs=5,
            priority=320,
            pod=replica,
        ))
    return out


def _section(program: Program, logs: Path) -> str:
    env = ",".join(f'{k}="{v}"' for k, v in sorted(program.environment.items()))
    lines = [
        f"[program:{program.name}]",
        f"command={shlex.join(program.command)}",
        f"autostart={str(program.autostart).lower()}",
        f"autorestart={program.autorestart}",
        f"startsecs={program.startsecs}",
        f"startretries={program.startretries}",
        f"stopsignal={program.stopsignal}",
        f"stopwaitsecs={program.stopwaitsecs}",
        f"priority={program.priority}",
        "stopasgroup=true",
        "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile={logs / (program.name + '.log')}",
        "stdout_logfile_maxbytes=20MB",
        "stdout_logfile_backups=1",
    ]
    if program.user:
        lines.append(f"user={program.user}")
    if program.directory:
        lines.append(f"directory={program.directory}")
    if env:
        lines.append(f"environment={env}")
    return "\n".join(lines)


def supervisor_config(state: StateDir, programs: list[Program]) -> str:
    """The supervisord configuration for these programs, controlled over a Unix socket in the state dir."""
    head = f"""[unix_http_server]
file={state.path("supervisor.sock")}
chmod=0700

[supervisord]
logfile={state.logs / "supervisord.log"}
logfile_maxbytes=10MB
logfile_backups=1
pidfile={state.path("supervisord.pid")}
childlogdir={state.logs}
directory={state.root}
nodaemon=false
minfds=1024
user=root

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{state.path("supervisor.sock")}
"""
    return head + "\n" + "\n\n".join(_section(p, state.logs) for p in programs) + "\n"
