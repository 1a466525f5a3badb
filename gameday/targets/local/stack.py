"""Bring the local stack up and down, idempotently, and clean up after crashes."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gameday import reasons
from gameday.alerts.rules import RunbookLink
from gameday.config import Settings
from gameday.dependencies import kind_of
from gameday.profile import Local, ProfileError, missing_environment
from gameday.state import StateDir, read_json, write_json_atomic
from gameday.targets.local import components, monitoring, providers, starts
from gameday.targets.local import service as service_mod
from gameday.targets.local.events import EventLog
from gameday.targets.local.password import redact, save_password
from gameday.targets.local.procs import (
    STACK_ENV,
    exe_path,
    listening_pids,
    lost_its_environment,
    send_signal,
    stack_processes,
    wait_gone,
)
from gameday.targets.local.programs import Program, StackContext, free_port, processes, supervisor_config
from gameday.targets.local.providers import DependencyProvider
from gameday.targets.local.rollout import RolloutStore, prepare_replicas
from gameday.targets.local.service import FAULT_PROXY, Service, proxy_port_name
from gameday.targets.local.supervisor import STACK_FILE, SpawnFailed, Supervisor, log_path
from gameday.targets.model import TargetError, serving_checks
from gameday.targets.probes import http_status, tcp_open

Warn = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def load_stack(state: StateDir) -> dict[str, Any] | None:
    """The description of the stack written by ``up`` (ports, programs), or None."""
    return read_json(state.path(STACK_FILE))


def _allocate_ports(replicas: list[str], dependencies: list[str], monitoring: bool,
                    proxied: tuple[str, ...] = ()) -> dict[str, int]:
    """A free loopback port for each component; ``proxied``: the dependencies the fault proxy fronts (its API
    port and one listen port each)."""
    names = ["load-balancer", "haproxy-metrics", *dependencies, *replicas]
    names += [FAULT_PROXY, *(proxy_port_name(name) for name in proxied)]
    if monitoring:
        names += ["prometheus", "alertmanager", "blackbox", "alert-receiver"]
    ports: dict[str, int] = {}
    while len(ports) < len(names):
        port = free_port()
        if port not in ports.values():
            ports[names[len(ports)]] = port
    return ports


def _programs(ctx: StackContext, settings: Settings, dependencies: DependencyProvider) -> list[Program]:
    programs = [components.fault_proxy(ctx), *dependencies.programs(ctx)]
    programs += [components.replica(ctx, name) for name in ctx.replica_names]
    programs += processes(ctx)  # local.processes: workers beside the replicas, schedulers
    programs.append(components.haproxy(ctx))
    if settings.local.monitoring:
        programs += monitoring.programs(ctx, scrape_interval=settings.local.scrape_interval)
    return programs


def up(
    settings: Settings, timeout: float | None = None, warn: Warn = _stderr, *, runbook: RunbookLink
) -> dict[str, Any]:
    """Start the stack (or make sure a running one is complete) and wait until it serves.

    In order: the dependencies the profile does not give an address for, the external ones checked at theirs, the
    profile's setup commands (migrations), then the replicas. A new stack that fails to serve, on the way or
    waiting (a program supervisord gave up on: at once; else at ``timeout``, default the profile's start timeout),
    is taken down again: one clear line, never a half-started stack that the next ``up`` would refuse.
    ``warn``: where a warning line goes (a record of the previous stack its provider cannot check). ``runbook``:
    what the service's alerts link to (the caller looks the profile's runbook package up; the targets sit below).
    """
    profile = settings.service
    local = service_mod.local_of(profile)
    if missing := missing_environment(profile, os.environ, requests=False):  # refused before anything starts
        raise ProfileError([f"{profile.source}: {line}" for line in missing])
    state = StateDir(settings.state_dir).ensure()
    sup = Supervisor(state)
    timeout = timeout if timeout is not None else local.start_timeout_s
    if sup.alive() and load_stack(state):
        recorded = (load_stack(state) or {}).get("profile")
        if recorded and recorded != str(profile.source):
            raise TargetError(f"the local stack already runs the profile {recorded}: 'gameday down' it first to "
                              f"run {profile.source}")
        for name, info in sup.processes().items():
            if info["statename"] in ("STOPPED", "EXITED", "FATAL"):
                _start_program(sup, name)
        providers.for_stack(state).start_stopped()
        stack = load_stack(state)
        assert stack is not None
        _wait_ready(state, stack, timeout, service_mod.database_password(profile, state), local)
        return stack
    provided = service_mod.runnable(profile)
    kill_leftovers(state)
    _teardown_provider(state, warn)
    replicas = [f"replica-{i}" for i in range(local.replicas)]
    password = service_mod.database_password(profile, state)
    try:
        stack = _start(settings, state, replicas, provided, password, timeout, runbook)
        _wait_ready(state, stack, timeout, password, local, measure=True)
    except BaseException as exc:
        try:
            down(settings, warn=warn)
            undone = "everything this up started is stopped again"
        except Exception as failed:  # the first failure is the one to report; the second one is noted
            undone = f"stopping what it started failed too ({failed}): run 'gameday down'"
        if isinstance(exc, TargetError):
            raise TargetError(f"{exc}; {undone}") from exc
        raise
    return stack


def _start_program(sup: Supervisor, name: str) -> None:
    """Start a program; one that dies at once still gets its start retries (supervisord answers SPAWN_ERROR when
    the death beats its answer, a race): whether it ends FATAL is for :func:`_wait_ready` to see."""
    with contextlib.suppress(SpawnFailed):
        sup.start(name)


def _teardown_provider(state: StateDir, warn: Warn) -> None:
    """Remove what the provider recorded for this state directory runs outside supervisor (its containers).

    A record is never a reason to refuse: once its Docker engine was stopped, nothing of that stack runs and the
    next ``up`` may well use the native provider. One warning says the containers could not be checked.
    """
    try:
        providers.for_stack(state).teardown()
    except Exception as exc:  # the Docker SDK raises its own and requests' errors alike
        why = str(exc) if isinstance(exc, TargetError) else f"{type(exc).__name__}: {exc}"
        warn(f"gameday: warning: the containers of the stack recorded in {state.root} could not be checked "
             f"(if any remain, remove them by their label gameday.stack): {why}")


def _start(settings: Settings, state: StateDir, replicas: list[str], provided: list[str], password: str,
           timeout: float, runbook: RunbookLink) -> dict[str, Any]:
    """Everything of ``up`` until the replicas are started."""
    profile = settings.service
    save_password(state, password)
    ports = _allocate_ports(replicas, provided, settings.local.monitoring,
                            tuple(d.name for d in profile.dependencies))
    service = Service(profile, state, ports, sys.executable, password)
    ctx = StackContext(state=state, ports=ports, replica_names=replicas, python=sys.executable, service=service,
                       runbook=runbook)
    dependencies = providers.choose(settings, state)
    dependencies.start_all(ctx)
    programs = _programs(ctx, settings, dependencies)
    rollout = RolloutStore(state)
    config = service.live_config()
    first = rollout.reset(service.local.release, config)
    EventLog(state).reset()
    prepare_replicas(service, replicas, {name: first for name in replicas}, config)
    state.path("supervisord.conf").write_text(supervisor_config(state, programs))
    for name in ("supervisord", *(p.name for p in programs)):  # a new stack's logs: a failure quotes its own
        (state.logs / f"{name}.log").unlink(missing_ok=True)
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
    for name, process, replica in service.process_programs(replicas):
        if replica is None:  # one per service: rendered and started beside the replicas (theirs start with them)
            service.write_process(process, None, service.local.release, config)
            _start_program(sup, name)
    for name in replicas:
        _start_program(sup, name)
    EventLog(state).record("Normal", reasons.SCALING_REPLICA_SET, f"deployment/{profile.service.name}",
                           f"Scaled up to {len(replicas)} replicas of {service.local.release}")
    return stack


def _await_dependencies(state: StateDir, service: Service, provided: list[str], deadline: float) -> None:
    """Wait for the dependencies the stack runs to listen; check the external ones at their address.

    An external dependency the service cannot serve without (``on_outage: outage``) must answer; one it survives
    is only noted as a Warning event.
    """
    pending = [*provided, *(name for name in service.ports if name.startswith(f"{FAULT_PROXY}:"))]
    sup = Supervisor(state)
    while pending and time.monotonic() < deadline:
        pending = [name for name in pending if not tcp_open(service.ports[name])]
        if pending:
            _refuse_fatal(state, sup, service.password, deadline)
            time.sleep(0.05)  # poll
    if pending:
        raise TargetError(f"dependencies not listening in time: {', '.join(pending)} (logs: {state.logs})")
    addresses = service.addresses(direct=True)  # gameday checks the external dependency itself, not the proxy
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


def _wait_ready(state: StateDir, stack: dict[str, Any], timeout: float, secret: str, local: Local,
                measure: bool = False) -> None:
    """Until every program answers and the load balancer serves the profile's checks; a program supervisord gave
    up on ends the wait at once. ``secret``: the database password, never quoted from a log. ``measure``: the
    replicas were just started: keep each one's time to ready in the stack's record (:mod:`.starts`).

    Each answer is waited for as long as the profile's ``local`` section says the service may take: a replica's
    readiness as long as HAProxy's check waits (``readiness.timeout_s``), a page through the load balancer as long
    as HAProxy waits for it (``lb_timeout_s``, then its 504). A heavy service on a busy runner answered its first
    pages in over 2 s, and a fixed 2 s wait ran ``up`` out of its deadline with every replica serving."""
    began = time.monotonic()
    deadline = began + timeout
    pending = {p["name"]: p for p in stack["programs"]}
    ready_in: dict[str, float] = {}
    sup = Supervisor(state)
    while pending and time.monotonic() < deadline:
        _refuse_fatal(state, sup, secret, deadline)
        infos = sup.processes()
        for name, prog in list(pending.items()):
            readiness = prog["readiness"]
            if readiness == "running":  # a worker: listens on nothing
                ok = infos.get(name, {}).get("statename") == "RUNNING"
            elif readiness.startswith("http:"):
                ok = http_status(f"http://127.0.0.1:{prog['port']}{readiness[5:]}",
                                 timeout=local.readiness.timeout_s) == 200
            else:
                ok = tcp_open(prog["port"])
            if ok:
                del pending[name]
                if prog.get("kind") == "replica":
                    ready_in[name] = round(time.monotonic() - began, 2)
        if pending:
            time.sleep(0.1)  # poll
    checks = [(str(path), int(status)) for path, status in stack.get("serving", [])]
    while not pending and time.monotonic() < deadline:
        if all(http_status(stack["load_balancer_url"] + path, timeout=local.lb_timeout_s + 1.0) == status
               for path, status in checks):
            if measure:
                stack[starts.STACK_KEY] = ready_in
                write_json_atomic(state.path(STACK_FILE), stack)
            return
        time.sleep(0.1)  # poll
    shown = " and ".join(f"{status} on {path}" for path, status in checks)
    waiting = ", ".join(sorted(pending)) or f"load balancer answering {shown}"
    raise TargetError(f"local stack not ready after {timeout:.0f}s: waiting for {waiting} (logs: {state.logs})")


SETTLING = ("STARTING", "BACKOFF")  # supervisord's states of a program whose start is not decided yet


def _refuse_fatal(state: StateDir, sup: Supervisor, secret: str, deadline: float) -> None:
    """One line naming every program supervisord gave up on (FATAL: it died before ``start_seconds`` on each of
    its ``start_retries``), with supervisord's reason and the end of the first one's log. Such a program never
    starts by itself: waiting for it only made ``up`` wait out its whole timeout.

    Once one is FATAL, the programs still starting or between their retries are let settle (within ``up``'s own
    deadline) before the line is written: replicas started together with one bad command fail a moment apart, and
    naming only the first to give up would send whoever reads it after one replica (a clean-clone run named
    replica-0 while replica-1 was in its last retry's STARTING)."""
    infos = sup.processes()
    fatal = [name for name, info in infos.items() if info.get("statename") == "FATAL"]
    if not fatal:
        return
    while time.monotonic() < deadline and any(i.get("statename") in SETTLING for i in infos.values()):
        time.sleep(0.1)  # poll
        infos = sup.processes()
    # the others still between their retries fail alike (replicas started together); they are named too
    failing = [f"{name} {info['statename']}" for name, info in infos.items() if info.get("statename") in
               ("FATAL", "BACKOFF")]
    first = fatal[0]
    reason = infos[first].get("spawnerr") or infos[first].get("description") or "gave up"
    tail = redact(_log_tail(log_path(state, first)), secret)
    said = f"; {first}'s log ends: {tail}" if tail else f"; {first}'s log is empty"
    raise TargetError(f"cannot start: {', '.join(failing)} (supervisord: {reason}){said} (logs: {state.logs})")


def _log_tail(path: Path, lines: int = 2, limit: int = 300) -> str:
    """The last distinct lines of a log, on one line."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 8192))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    kept: list[str] = []
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line and line not in kept:
            kept.insert(0, line)
        if len(kept) == lines:
            break
    return " | ".join(kept)[-limit:]


def down(settings: Settings, timeout: float = 30.0, warn: Warn = _stderr) -> list[int]:
    """Stop everything and leave no process and no port behind; return the pids killed by force. ``warn``: where
    the warning goes when the recorded provider cannot check its containers (its Docker engine stopped)."""
    state = StateDir(settings.state_dir)
    if not state.root.exists():
        return []
    sup = Supervisor(state)
    pid = sup.pid()
    if pid is not None:
        # thaw anything frozen first, or a SIGSTOPped process would ignore SIGTERM until killed
        for leftover in stack_processes(state):
            send_signal(leftover, signal.SIGCONT)
        sup.shutdown()
        wait_gone([pid], timeout)
    killed = kill_leftovers(state)
    _teardown_provider(state, warn)  # the containers of a containers-provider stack, found by label
    stack = load_stack(state) or {}
    ports = list((stack.get("ports") or {}).values())
    deadline = time.monotonic() + timeout
    while any(tcp_open(p, timeout=0.1) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.1)  # poll
    for name in ("supervisor.sock", "supervisord.pid"):
        state.path(name).unlink(missing_ok=True)
    save_password(state, "")  # the next ``up`` takes it from the environment again
    return killed


def kill_leftovers(state: StateDir, timeout: float = 10.0) -> list[int]:
    """SIGKILL whatever a crashed or killed stack left running: found by environment marker and by port.

    Some programs (Redis, PostgreSQL) rewrite their process title over their environment, so the
    marker alone is not enough: a process listening on one of the stack's ports goes too when it runs one of the
    stack's programs and its environment is gone. Never a stranger on a reused port: the ports are the last stack's,
    free for anyone since it stopped, and a stranger running the same program (another Python server) still has
    an environment of its own, without the marker.
    """
    stack = load_stack(state) or {}
    ports = list((stack.get("ports") or {}).values())
    ours = {os.path.realpath(p["command"][0]) for p in stack.get("programs", [])}
    by_port = [pid for pid in listening_pids(ports) if exe_path(pid) in ours and lost_its_environment(pid)]
    pids = sorted((set(stack_processes(state)) | set(by_port)) - {os.getpid()})
    for pid in pids:
        send_signal(pid, signal.SIGCONT)
        send_signal(pid, signal.SIGKILL)
    wait_gone(pids, timeout)
    if pids:
        for name in ("supervisor.sock", "supervisord.pid"):
            state.path(name).unlink(missing_ok=True)
    return pids
