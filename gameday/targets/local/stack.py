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

from gameday import reasons
from gameday.config import Settings
from gameday.dependencies import kind_of
from gameday.state import StateDir, read_json, write_json_atomic
from gameday.targets.base import TargetError, serving_checks
from gameday.targets.local import components, providers
from gameday.targets.local import service as service_mod
from gameday.targets.local.events import EventLog
from gameday.targets.local.probes import http_status, tcp_open
from gameday.targets.local.programs import Program, StackContext, free_port, supervisor_config
from gameday.targets.local.providers import DependencyProvider
from gameday.targets.local.rollout import RolloutStore, prepare_replicas
from gameday.targets.local.service import Service
from gameday.targets.local.supervisor import Supervisor

STACK_FILE = "stack.json"
STACK_ENV = "GAMEDAY_STACK"  # every process of a stack carries its state dir in this variable


def load_stack(state: StateDir) -> dict[str, Any] | None:
    """The description of the stack written by ``up`` (ports, programs), or None."""
    return read_json(state.path(STACK_FILE))


def _allocate_ports(replicas: list[str], dependencies: list[str], monitoring: bool) -> dict[str, int]:
    names = ["load-balancer", "haproxy-metrics", *dependencies, *replicas]
    if monitoring:
        names += ["prometheus", "alertmanager", "blackbox", "alert-receiver"]
    ports: dict[str, int] = {}
    while len(ports) < len(names):
        port = free_port()
        if port not in ports.values():
            ports[names[len(ports)]] = port
    return ports


def _programs(ctx: StackContext, settings: Settings, dependencies: DependencyProvider) -> list[Program]:
    programs = dependencies.programs(ctx)
    programs += [components.replica(ctx, name) for name in ctx.replica_names]
    programs.append(components.haproxy(ctx))
    if settings.local.monitoring:
        from gameday.targets.local import monitoring

        programs += monitoring.programs(ctx, scrape_interval=settings.local.scrape_interval)
    return programs


def up(settings: Settings, timeout: float | None = None) -> dict[str, Any]:
    """Start the stack (or make sure a running one is complete) and wait until it serves.

    In order: the dependencies the profile does not give an address for, the external ones checked at theirs, the
    profile's setup commands (migrations), then the replicas. A failure before the replicas start takes everything
    down again (one clear line, never a half-started stack). ``timeout``: default the profile's start timeout.
    """
    state = StateDir(settings.state_dir).ensure()
    sup = Supervisor(state)
    profile = settings.service
    local = service_mod.local_of(profile)
    timeout = timeout if timeout is not None else local.start_timeout_s
    if sup.alive() and load_stack(state):
        recorded = (load_stack(state) or {}).get("profile")
        if recorded and recorded != str(profile.source):
            raise TargetError(f"the local stack already runs the profile {recorded}: 'gameday down' it first to "
                              f"run {profile.source}")
        for name, info in sup.processes().items():
            if info["statename"] in ("STOPPED", "EXITED", "FATAL"):
                sup.start(name)
        providers.for_stack(state).start_stopped()
        stack = load_stack(state)
        assert stack is not None
        _wait_ready(state, stack, timeout)
        return stack
    provided = service_mod.runnable(profile)
    kill_leftovers(state)
    providers.for_stack(state).teardown()
    replicas = [f"replica-{i}" for i in range(local.replicas)]
    password = service_mod.database_password(profile, state)
    try:
        stack = _start(settings, state, replicas, provided, password, timeout)
    except BaseException:
        with contextlib.suppress(Exception):
            down(settings)
        raise
    _wait_ready(state, stack, timeout)
    return stack


def _start(settings: Settings, state: StateDir, replicas: list[str], provided: list[str], password: str,
           timeout: float) -> dict[str, Any]:
    """Everything of ``up`` until the replicas are started."""
    profile = settings.service
    service_mod.save_password(state, password)
    ports = _allocate_ports(replicas, provided, settings.local.monitoring)
    service = Service(profile, state, ports, sys.executable, password)
    ctx = StackContext(state=state, ports=ports, replica_names=replicas, python=sys.executable, service=service)
    dependencies = providers.choose(settings, state)
    dependencies.start_all(ctx)
    programs = _programs(ctx, settings, dependencies)
    rollout = RolloutStore(state)
    config = service.live_config()
    first = rollout.reset(service.local.release, config)
    EventLog(state).reset()
    prepare_replicas(service, replicas, {name: first for name in replicas}, config)
    state.path("supervisord.conf").write_text(supervisor_config(state, programs))
    (state.logs / "supervisord.log").unlink(missing_ok=True)
    stack = {
        "started_at": time.time(),
        "state_dir": str(state.root),
        "profile": str(profile.source),
        "service": profile.service.name,
        "python": sys.executable,
        "load_balancer_url": f"http://127.0.0.1:{ports['load-balancer']}",
        "serving": serving_checks(profile),
        "ports": ports,
        "replicas": replicas,
        "config": config,
        "programs": [asdict(p) for p in programs],
    }
    write_json_atomic(state.path(STACK_FILE), stack)
    sup = Supervisor(state)
    sup.launch({STACK_ENV: str(state.root)})
    deadline = time.monotonic() + timeout
    _await_dependencies(state, service, provided, deadline)
    service.run_setup(config, {STACK_ENV: str(state.root)}, max(1.0, deadline - time.monotonic()))
    for name in replicas:
        sup.start(name)
    EventLog(state).record("Normal", reasons.SCALING_REPLICA_SET, f"deployment/{profile.service.name}",
                           f"Scaled up to {len(replicas)} replicas of {service.local.release}")
    return stack


def _await_dependencies(state: StateDir, service: Service, provided: list[str], deadline: float) -> None:
    """Wait for the dependencies the stack runs to listen; check the external ones at their address.

    An external dependency the service cannot serve without (``on_outage: outage``) must answer; one it survives
    is only noted as a Warning event.
    """
    pending = list(provided)
    while pending and time.monotonic() < deadline:
        pending = [name for name in pending if not tcp_open(service.ports[name])]
        if pending:
            time.sleep(0.05)  # poll
    if pending:
        raise TargetError(f"dependencies not listening in time: {', '.join(pending)} (logs: {state.logs})")
    addresses = service.addresses()
    for dep in service.profile.dependencies:
        if dep.provided:
            continue
        check = kind_of(dep.kind).check(dep.name, addresses[dep.name], timeout=2.0)
        while not check.ok and dep.on_outage == "outage" and time.monotonic() < deadline:
            time.sleep(0.5)  # poll
            check = kind_of(dep.kind).check(dep.name, addresses[dep.name], timeout=2.0)
        if check.ok:
            continue
        if dep.on_outage == "outage":
            raise TargetError(f"external dependency {dep.name} at {dep.address} does not answer: {check.detail}")
        EventLog(state).record("Warning", reasons.DEPENDENCY_UNREACHABLE, dep.name,
                               f"external dependency {dep.name} at {dep.address} does not answer: {check.detail}")


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
    checks = [(str(path), int(status)) for path, status in stack.get("serving", [])]
    while not pending and time.monotonic() < deadline:
        if all(http_status(stack["load_balancer_url"] + path, timeout=2.0) == status for path, status in checks):
            return
        time.sleep(0.1)  # poll
    shown = " and ".join(f"{status} on {path}" for path, status in checks)
    waiting = ", ".join(sorted(pending)) or f"load balancer answering {shown}"
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
    providers.for_stack(state).teardown()  # the containers of a containers-provider stack, found by label
    stack = load_stack(state) or {}
    ports = list((stack.get("ports") or {}).values())
    deadline = time.monotonic() + timeout
    while any(tcp_open(p, timeout=0.1) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.1)  # poll
    for name in ("supervisor.sock", "supervisord.pid"):
        state.path(name).unlink(missing_ok=True)
    service_mod.save_password(state, "")  # the next ``up`` takes it from the environment again
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
