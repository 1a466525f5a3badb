"""Bring the local stack up and down, idempotently, and clean up after crashes."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gameday.config import Settings
from gameday.state import StateDir, read_json, write_json_atomic
from gameday.targets.base import TargetError
from gameday.targets.local import components
from gameday.targets.local.events import EventLog
from gameday.targets.local.probes import http_status, tcp_open
from gameday.targets.local.programs import Program, StackContext, free_port, supervisor_config
from gameday.targets.local.rollout import RolloutStore
from gameday.targets.local.supervisor import Supervisor

STACK_FILE = "stack.json"
STACK_ENV = "GAMEDAY_STACK"  # every process of a stack carries its state dir in this variable


def load_stack(state: StateDir) -> dict[str, Any] | None:
    """The description of the stack written by ``up`` (ports, programs), or None."""
    return read_json(state.path(STACK_FILE))


def _allocate_ports(replicas: list[str], monitoring: bool) -> dict[str, int]:
    names = ["load-balancer", "haproxy-metrics", "postgres", "redis", "kafka", *replicas]
    if monitoring:
        names += ["prometheus", "alertmanager", "blackbox", "alert-receiver"]
    ports: dict[str, int] = {}
    while len(ports) < len(names):
        port = free_port()
        if port not in ports.values():
            ports[names[len(ports)]] = port
    return ports


def base_config(ports: dict[str, int], settings: Settings) -> dict[str, str]:
    """The service configuration (the ConfigMap's data) for a fresh local stack."""
    return {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(ports["postgres"]),
        "DB_NAME": "app",
        "DB_USER": "app",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(ports["redis"]),
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{ports['kafka']}",
        "POSTGRES_GRACE_SECONDS": str(settings.local.postgres_grace_seconds),
    }


def _programs(ctx: StackContext, settings: Settings) -> list[Program]:
    programs = [components.postgres(ctx), components.redis(ctx), components.kafka(ctx)]
    programs += [
        components.replica(ctx, name, settings.local.start_seconds, settings.local.start_retries)
        for name in ctx.replica_names
    ]
    programs.append(components.haproxy(ctx))
    if settings.local.monitoring:
        from gameday.targets.local import monitoring

        programs += monitoring.programs(ctx, scrape_interval=settings.local.scrape_interval)
    return programs


def up(settings: Settings, timeout: float = 90.0) -> dict[str, Any]:
    """Start the stack (or make sure a running one is complete) and wait until it serves."""
    state = StateDir(settings.state_dir).ensure()
    sup = Supervisor(state)
    if sup.alive() and load_stack(state):
        for name, info in sup.processes().items():
            if info["statename"] in ("STOPPED", "EXITED", "FATAL"):
                sup.start(name)
        stack = load_stack(state)
        assert stack is not None
        _wait_ready(state, stack, timeout)
        return stack
    kill_leftovers(state)
    replicas = [f"replica-{i}" for i in range(settings.local.replicas)]
    ports = _allocate_ports(replicas, settings.local.monitoring)
    ctx = StackContext(state=state, ports=ports, replica_names=replicas, python=sys.executable)
    components.prepare_postgres(state)
    programs = _programs(ctx, settings)
    rollout = RolloutStore(state)
    first = rollout.reset(settings.local.release_version, base_config(ports, settings))
    EventLog(state).reset()
    from gameday.targets.local.target import write_replica_configs

    write_replica_configs(state, replicas, {name: first for name in replicas}, rollout.config())
    state.path("supervisord.conf").write_text(supervisor_config(state, programs))
    (state.logs / "supervisord.log").unlink(missing_ok=True)
    stack = {
        "started_at": time.time(),
        "state_dir": str(state.root),
        "load_balancer_url": f"http://127.0.0.1:{ports['load-balancer']}",
        "ports": ports,
        "replicas": replicas,
        "programs": [asdict(p) for p in programs],
    }
    write_json_atomic(state.path(STACK_FILE), stack)
    sup.launch({STACK_ENV: str(state.root)})
    EventLog(state).record("Normal", "ScalingReplicaSet", "deployment/ecommerce-backend",
                           f"Scaled up to {len(replicas)} replicas of {settings.local.release_version}")
    _wait_ready(state, stack, timeout)
    return stack


def _wait_ready(state: StateDir, stack: dict[str, Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = {p["name"]: p for p in stack["programs"]}
    while pending and time.monotonic() < deadline:
        for name, prog in list(pending.items()):
            readiness = prog["readiness"]
            if readiness.startswith("http:"):
                ok = http_status(f"http://127.0.0.1:{prog['port']}{readiness[5:]}") == 200
            else:
                ok = tcp_open(prog["port"])
            if ok:
                del pending[name]
        if pending:
            time.sleep(0.1)  # poll
    url = stack["load_balancer_url"] + "/api/products"
    while not pending and time.monotonic() < deadline:
        if http_status(url, timeout=2.0) == 200:
            return
        time.sleep(0.1)  # poll
    waiting = ", ".join(sorted(pending)) or "load balancer answering 200 on /api/products"
    raise TargetError(f"local stack not ready after {timeout:.0f}s: waiting for {waiting} (logs: {state.logs})")


def down(settings: Settings, timeout: float = 30.0) -> list[int]:
    """Stop everything and leave no process and no port behind; return the pids killed by force."""
    state = StateDir(settings.state_dir)
    if not state.root.exists():
        return []
    sup = Supervisor(state)
    pid = sup.pid()
    if pid is not None:
        # thaw anything frozen first, or a SIGSTOPped process would ignore SIGTERM until killed
        for leftover in stack_processes(state):
            _signal(leftover, signal.SIGCONT)
        sup.shutdown()
        _wait_gone([pid], timeout)
    killed = kill_leftovers(state)
    stack = load_stack(state) or {}
    ports = list((stack.get("ports") or {}).values())
    deadline = time.monotonic() + timeout
    while any(tcp_open(p, timeout=0.1) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.1)  # poll
    for name in ("supervisor.sock", "supervisord.pid"):
        state.path(name).unlink(missing_ok=True)
    return killed


def stack_processes(state: StateDir) -> list[int]:
    """Pids of every live process started for this state directory (found by their environment)."""
    marker = f"{STACK_ENV}={state.root}".encode()
    own = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def listening_pids(ports: list[int]) -> list[int]:
    """Pids of the processes listening on these TCP ports of 127.0.0.1 (from /proc, no tools needed)."""
    wanted = {f"0100007F:{p:04X}" for p in ports}
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] in wanted and fields[3] == "0A":  # LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return []
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            found.add(int(entry.name))
    return sorted(found)


def kill_leftovers(state: StateDir, timeout: float = 10.0) -> list[int]:
    """SIGKILL whatever a crashed or killed stack left running: found by environment marker and by port.

    Some programs (Redis, PostgreSQL) rewrite their process title over their environment, so the
    marker alone is not enough: anything still listening on one of the stack's ports goes too.
    """
    stack = load_stack(state) or {}
    ports = list((stack.get("ports") or {}).values())
    ours = {os.path.realpath(p["command"][0]) for p in stack.get("programs", [])}
    by_port = [pid for pid in listening_pids(ports) if _exe_name(pid) in ours]  # never a stranger on a reused port
    pids = sorted((set(stack_processes(state)) | set(by_port)) - {os.getpid()})
    for pid in pids:
        _signal(pid, signal.SIGCONT)
        _signal(pid, signal.SIGKILL)
    _wait_gone(pids, timeout)
    if pids:
        for name in ("supervisor.sock", "supervisord.pid"):
            state.path(name).unlink(missing_ok=True)
    return pids


def _exe_name(pid: int) -> str:
    try:
        return os.path.realpath(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)  # poll
