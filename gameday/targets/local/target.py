"""The local target: the Target interface over the stack that ``gameday up`` runs on loopback ports."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gameday import interrupts, reasons
from gameday.config import Settings, get_settings
from gameday.dependencies import KINDS, Address
from gameday.errors import UsageError
from gameday.profile import Dependency, Profile
from gameday.profile import load as load_profile
from gameday.state import StateDir, read_json
from gameday.targets.base import (
    ConfigChange,
    DependencyCheck,
    DependencyState,
    Endpoint,
    Event,
    LoadBalancer,
    NotApplicableError,
    NothingChanged,
    Replica,
    Revision,
    Status,
    Target,
    TargetError,
    profile_dependency,
    serving_checks,
)
from gameday.targets.canary import CanaryDriver
from gameday.targets.local import probes, providers
from gameday.targets.local import service as service_mod
from gameday.targets.local.events import EventLog, supervisor_events
from gameday.targets.local.haproxy import HAProxyRuntime
from gameday.targets.local.providers import DependencyProvider
from gameday.targets.local.rollout import PODS_FILE, RevisionRecord, RolloutStore, config_hash, prepare_replicas
from gameday.targets.local.service import Service, database_password
from gameday.targets.local.stack import load_stack
from gameday.targets.local.supervisor import NOT_RUNNING, Supervisor

LIVE_CONFIG = ("rollout", "config.json")  # the live configuration (the ConfigMap): RolloutStore keeps it there
READINESS_TIMEOUT_S = 1.0  # a readiness probe's timeoutSeconds (Kubernetes' default)
READINESS_ATTEMPTS = 2  # ... and its failureThreshold: one lost answer is not a replica out of service


class LocalTarget(Target):
    """The runbook's operations on the local stack."""

    name = "local"

    def __init__(self, settings: Settings | None = None, *, any_profile: bool = False) -> None:
        """A running stack is judged with the profile it runs, or not at all: another profile (even a copy of the
        same service's, being edited) would judge it by endpoints, journeys and SLOs it does not run, and every
        command that builds the target gets the refusal here. ``any_profile``: undoing a ledger entry, which is
        about the stack, whatever profile the command was given (the stack's own is used: :attr:`profile`)."""
        self.settings = settings or get_settings()
        self.state = StateDir(self.settings.state_dir)
        self.supervisor = Supervisor(self.state)
        self.rollout = RolloutStore(self.state)
        self.event_log = EventLog(self.state)
        if not any_profile:
            self._refuse_another_profile()

    def _refuse_another_profile(self) -> None:
        """One line and exit 2 (bad input, nothing done) when the stack runs and its recorded profile is not the
        one given."""
        running = (load_stack(self.state) or {}).get("profile")
        if not running or Path(running) == self.settings.service.source or not self.supervisor.alive():
            return
        raise UsageError(f"the local stack runs the profile {running}, not {self.settings.service.source}: name "
                         "its profile (--profile / GAMEDAY_PROFILE), or 'gameday down' it first")

    # --- stack description -------------------------------------------------------------------
    @property
    def stack(self) -> dict[str, Any]:
        """What ``gameday up`` recorded; raises when the stack was never started."""
        stack = load_stack(self.state)
        if not stack:
            raise TargetError(NOT_RUNNING)
        return stack

    @property
    def replica_names(self) -> list[str]:
        """The replicas' names, in order."""
        return list(self.stack["replicas"])

    def port(self, component: str) -> int:
        """The loopback port of a component."""
        return int(self.stack["ports"][component])

    @property
    def profile(self) -> Profile:
        """The profile the stack was started with (``gameday up`` records it), else the configured one."""
        recorded = (load_stack(self.state) or {}).get("profile")
        if recorded and recorded != str(self.settings.service.source):
            return load_profile(recorded)
        return self.settings.service

    @property
    def service(self) -> Service:
        """The profile's service on this stack: renders a replica's files, environment and command at (re)start."""
        stack = self.stack
        password = database_password(self.profile, self.state)
        return Service(self.profile, self.state, dict(stack["ports"]), stack.get("python") or sys.executable,
                       password)

    @property
    def lb_runtime(self) -> HAProxyRuntime:
        """HAProxy's runtime API."""
        return HAProxyRuntime(self.state.path("haproxy", "haproxy.sock"), self.profile.service.name)

    def base_url(self) -> str:
        return self.stack["load_balancer_url"]

    def _object(self, kind: str) -> str:
        """How events name the service's objects: ``deployment/<service>``, ``configmap/<service>-config``."""
        name = self.profile.service.name
        return f"configmap/{name}-config" if kind == "configmap" else f"{kind}/{name}"

    def reachable(self) -> None:
        self._require_running()
        if not probes.tcp_open(self.port("load-balancer")):
            raise TargetError(f"load balancer not listening on {self.base_url()}")

    def _require_running(self) -> None:
        """Refuse before anything is written (a revision, an event) when no supervisord runs the stack."""
        if not self.supervisor.alive():
            raise TargetError(NOT_RUNNING)

    # --- observation -------------------------------------------------------------------------
    def _pods(self) -> dict[str, dict[str, Any]]:
        return read_json(self.state.path(*PODS_FILE), {})

    def replicas(self) -> list[Replica]:
        infos = self.supervisor.processes()
        pods = self._pods()
        spawns = [e for e in supervisor_events(self.state.logs / "supervisord.log") if e.reason == reasons.STARTED]
        names = self.replica_names
        phases = {name: self._phase(infos.get(name, {})) for name in names}
        running = [name for name in names if phases[name] == "Running"]  # only a running process can be ready
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            probed = dict(zip(running, pool.map(self._probe_readiness, running), strict=True))
        out = []
        for name in names:
            info = infos.get(name, {})
            pod = pods.get(name, {})
            created = float(pod.get("created_at", 0))
            restarts = max(0, sum(1 for e in spawns if e.object == name and e.timestamp >= created - 1) - 1)
            phase = phases[name]
            out.append(
                Replica(
                    name=name,
                    phase=phase,
                    ready=probed.get(name, (False, ""))[0],
                    restarts=restarts,
                    revision=pod.get("revision"),
                    version=pod.get("version"),
                    pid=(info.get("pid") or None) if phase not in ("Stopped", "Terminated", "CrashLoopBackOff")
                    else None,
                    address=f"127.0.0.1:{self.port(name)}",
                    started_at=float(info["start"]) if info.get("start") else None,
                    probe=probed.get(name, (False, ""))[1],
                )
            )
        return out

    @staticmethod
    def _phase(info: dict[str, Any]) -> str:
        """A replica's phase, in Kubernetes' words, from supervisor's process state: what ``supervisorctl status``
        says, as ``kubectl get pods`` says what the kubelet sees. A hung process is RUNNING there (and Running here):
        only its probes timing out tell (:meth:`_replica_ready`, the load balancer's checks in :meth:`endpoints`)."""
        return {
            "RUNNING": "Running",
            "STARTING": "Running",
            "BACKOFF": "CrashLoopBackOff",
            "FATAL": "CrashLoopBackOff",
            "STOPPED": "Stopped",
            "EXITED": "Terminated",
            "STOPPING": "Terminating",
        }.get(info.get("statename", "UNKNOWN"), "Unknown")

    def endpoints(self) -> list[Endpoint]:
        """HAProxy's servers; one out of rotation says why, as ``show stat`` does: its last check's status (L7TOUT:
        the check timed out, L4CON: connection refused, L7STS: a bad HTTP status)."""
        try:
            servers = self.lb_runtime.servers()
        except TargetError:
            return []
        return [Endpoint(s.name, s.address, s.up, s.status if s.up else f"{s.status} {s.check_status}".strip())
                for s in servers]

    def load_balancer(self) -> LoadBalancer:
        endpoints = self.endpoints()
        answering = probes.tcp_open(self.port("load-balancer"))
        return LoadBalancer(
            name=f"{self.profile.service.name}-lb (haproxy)",
            url=self.base_url(),
            state="up" if answering else "down",
            ready_backends=sum(1 for e in endpoints if e.ready),
            total_backends=len(endpoints) or len(self.replica_names),
        )

    def history(self) -> list[Revision]:
        digest = config_hash(self.rollout.config())
        return [r.public(digest if r.number == self.rollout.current().number else "") for r in self.rollout.revisions()]

    def events(self, limit: int = 20) -> list[Event]:
        return self.event_log.since(float(self.stack["started_at"]) - 5)[-limit:]

    def config_changes(self) -> list[ConfigChange]:
        """What an on-call finds with ``ls -l`` and ``diff``: the live configuration (the ConfigMap) written after
        ``up``, and each replica's files and command compared with what its revision renders from the live
        configuration. A file edited by hand, or a command changed by hand and restarted through supervisor, shows
        here though neither gameday nor the rollout history recorded it."""
        out = []
        live = self.state.path(*LIVE_CONFIG)
        # ``up`` writes the live configuration with revision 1, then records the stack as started: a write after
        # that is a change. (Not the oldest revision's time: a revision rolled back to is renumbered and re-dated,
        # as Kubernetes does, so right after an undo the oldest one may be seconds old.)
        created = float(self.stack["started_at"])
        if live.exists() and live.stat().st_mtime > created:
            out.append(ConfigChange(live.stat().st_mtime, self._object("configmap"), "config",
                                    f"the live configuration ({live.name}) was written"))
        return sorted(out + self._drift(), key=lambda c: c.at)

    def _drift(self) -> list[ConfigChange]:
        """Replicas whose files or command differ from what their revision renders now (rendered into a scratch
        directory; compared in memory: nothing of a file, secrets included, is shown)."""
        service = self.service
        pods = self._pods()
        revisions = {r.number: r for r in self.rollout.revisions()}
        current = self.rollout.current()
        config = self.rollout.config()
        out: list[ConfigChange] = []
        with tempfile.TemporaryDirectory(prefix="gameday-render-") as scratch:
            shadow = Service(service.profile, StateDir(Path(scratch)), service.ports, service.python, service.password)

            def real(text: str) -> str:
                return text.replace(scratch, str(self.state.root))

            for name in self.replica_names:
                rev = revisions.get(pods.get(name, {}).get("revision"), current)
                try:
                    spec = shadow.render_replica(name, rev.version, config)
                except TargetError:
                    continue
                for item in service.local.files:
                    path = service.replica_dir(name) / service_mod.file_name(item)
                    wanted = real((shadow.replica_dir(name) / service_mod.file_name(item)).read_text())
                    if path.exists() and not _same_content(path.read_text(errors="replace"), wanted):
                        out.append(ConfigChange(path.stat().st_mtime, f"file/{name}/{path.name}", "config",
                                                f"{path} differs from what revision {rev.number} renders from the "
                                                "live configuration"))
                spec_path = service.spec_path(name)
                running = read_json(spec_path, {})
                if not running:
                    continue
                command = [real(part) for part in spec.command]
                environment = {k: real(v) for k, v in spec.environment.items()}
                if running.get("command") != command:
                    out.append(ConfigChange(spec_path.stat().st_mtime, f"command/{name}", "command",
                                            f"{name} is set to run {' '.join(map(str, running.get('command') or []))!r}"
                                            f", not revision {rev.number}'s ({rev.version})"))
                elif running.get("environment") != environment:
                    out.append(ConfigChange(spec_path.stat().st_mtime, f"file/{name}/{spec_path.name}", "config",
                                            f"{name}'s environment differs from what revision {rev.number} renders "
                                            "from the live configuration"))
        return out

    def logs(self, replica: str | None = None, tail: int = 100) -> list[str]:
        names = [replica] if replica else self.replica_names
        lines: list[str] = []
        for name in names:
            if name not in self.replica_names:
                raise TargetError(f"no replica {name!r}: expected one of {', '.join(self.replica_names)}")
            path = self.state.logs / f"{name}.log"
            if path.exists():
                lines += path.read_text(errors="replace").splitlines()[-tail:]
        return lines[-tail:] if replica is None else lines

    def config(self) -> dict[str, str]:
        return self.rollout.config()

    def _dependency(self, name: str) -> str:
        """A dependency the stack runs itself; an external one cannot be stopped or hung from here."""
        dep = profile_dependency(self.profile, name)
        if not dep.provided:
            raise NotApplicableError(f"{name} is external ({dep.address}): the local target does not run it, so it "
                                     "cannot stop, start or hang it")
        return name

    @property
    def dependencies(self) -> DependencyProvider:
        """What runs PostgreSQL, Redis and the broker: supervisor (native) or Docker (containers)."""
        return providers.for_stack(self.state)

    def dependency_states(self) -> list[DependencyState]:
        provider = self.dependencies
        return [self._dependency_state(provider, dep) for dep in self.profile.dependencies]

    def _dependency_state(self, provider: DependencyProvider, dep: Dependency) -> DependencyState:
        if not dep.provided:
            return DependencyState(dep.name, "external", dep.address or "")
        return provider.state_of(dep.name, f"127.0.0.1:{self.port(dep.name)}")

    def check_dependency(self, name: str, timeout: float = 2.0) -> DependencyCheck:
        """The kind's check (pg_isready, redis-cli ping ...) where the stack runs it, or at an external address."""
        dep = profile_dependency(self.profile, name)
        if dep.address is None:
            host, port = "127.0.0.1", self.port(name)
        else:
            external, _, number = dep.address.rpartition(":")
            host, port = external, int(number)
        return KINDS[dep.kind].check(name, Address(host, port, path=dep.health_path), timeout)

    def status(self) -> Status:
        status = super().status()
        infos = self.supervisor.processes()
        status.components = [
            {
                "name": p["name"],
                "kind": p["kind"],
                "pid": infos.get(p["name"], {}).get("pid") or None,
                "port": p["port"],
                "state": infos.get(p["name"], {}).get("statename", "UNKNOWN").lower(),
            }
            for p in self.stack["programs"]
        ]
        return status

    # --- replica actions -----------------------------------------------------------------------
    def _select(self, names: list[str] | None) -> list[str]:
        chosen = names or self.replica_names
        unknown = [n for n in chosen if n not in self.replica_names]
        if unknown:
            raise NothingChanged(f"no replica {unknown[0]!r}: expected one of {', '.join(self.replica_names)}")
        return chosen

    def terminate_replicas(self, names: list[str] | None = None) -> list[str]:
        killed = []
        for name in self._select(names):
            if self.supervisor.signal_group(name, signal.SIGKILL):
                killed.append(name)
                self.event_log.record("Normal", reasons.KILLED, name, f"Killing replica {name} (SIGKILL)")
        return killed

    def freeze_replicas(self, names: list[str] | None = None) -> list[str]:
        frozen = []
        for name in self._select(names):
            if self.supervisor.signal_group(name, signal.SIGSTOP):
                frozen.append(name)
                self.event_log.record("Warning", reasons.FROZEN, name, f"Replica {name} frozen (SIGSTOP)")
        return frozen

    def thaw_replicas(self, names: list[str] | None = None) -> list[str]:
        thawed = []
        for name in self._select(names):
            if self.supervisor.signal_group(name, signal.SIGCONT):
                thawed.append(name)
                self.event_log.record("Normal", reasons.THAWED, name, f"Replica {name} resumed (SIGCONT)")
        return thawed

    def _replica_ready(self, name: str) -> bool:
        """Whether the replica passes its readiness probe (:meth:`_probe_readiness`)."""
        return self._probe_readiness(name)[0]

    def _probe_readiness(self, name: str) -> tuple[bool, str]:
        """The readiness probe, as a kubelet runs it: Kubernetes' default timeout (1 s), and a failure counts only
        when the next attempt fails too (``failureThreshold`` > 1). One answer slower than the timeout on a busy
        machine is not a replica out of service (measured: once in CI, "Running, not ready" with HAProxy's own
        checks of it UP); a refused connection or a 503 fails both attempts at once. Returns (ready, why not: the
        last attempt's ``timeout``, ``refused`` or ``HTTP 503``), what ``kubectl describe pod`` shows."""
        url = f"http://127.0.0.1:{self.port(name)}{self.profile.service.readiness_path}"
        why = ""
        for _ in range(READINESS_ATTEMPTS):
            status, error = probes.http_probe(url, timeout=READINESS_TIMEOUT_S)
            if status == 200:
                return True, ""
            why = error or f"HTTP {status}"
        return False, why

    def _roll(self, rev: RevisionRecord, timeout: float, wait: bool) -> Revision:
        """Rolling replacement, one replica at a time, taken out of the load balancer while it restarts."""
        self.event_log.record(
            "Normal", reasons.SCALING_REPLICA_SET, self._object("deployment"),
            f"Rolling out revision {rev.number} ({rev.version}): {rev.change_cause}",
        )
        config = self.rollout.config()
        service = self.service
        deadline = time.monotonic() + timeout
        for name in self.replica_names:
            self._lb_state(name, "maint")
            self.supervisor.stop(name)
            prepare_replicas(service, [name], {name: rev}, config, restarted=True)
            self.supervisor.start(name)
            self._lb_state(name, "ready")
            if not wait:
                continue
            while not self._replica_ready(name):
                if time.monotonic() > deadline:
                    self.event_log.record(
                        "Warning", reasons.PROGRESS_DEADLINE_EXCEEDED, self._object("deployment"),
                        f"revision {rev.number}: replica {name} not ready within {timeout:.0f}s",
                    )
                    return rev.public()
                interrupts.pause(0.1)  # poll (a safe point)
        return rev.public()

    def _lb_state(self, name: str, state: str) -> None:
        with contextlib.suppress(TargetError):  # the load balancer is down: nothing to drain
            self.lb_runtime.set_state(name, state)

    def rollout_restart(self, wait: bool = True, timeout: float = 60.0) -> Revision:
        self._require_running()
        current = self.rollout.current()
        rev = self.rollout.record(current.version, time.time(), "kubectl rollout restart")
        return self._roll(rev, timeout, wait)

    def rollout_undo(self, to_revision: int | None = None, wait: bool = True, timeout: float = 60.0) -> Revision:
        self._require_running()
        target = self.rollout.find(to_revision)
        current = self.rollout.current()
        if target.template == current.template:
            self.event_log.record("Normal", reasons.ROLLBACK_SKIPPED, self._object("deployment"),
                                  f"revision {target.number} already matches the current template")
            return current.public()
        rev = self.rollout.record(target.version, target.restarted_at, f"rollback to revision {target.number}")
        self.event_log.record("Normal", reasons.DEPLOYMENT_ROLLBACK, self._object("deployment"),
                              f"Rolled back to revision {target.number} ({target.version})")
        return self._roll(rev, timeout, wait)

    def deploy(self, version: str, cause: str = "", wait: bool = True, timeout: float = 60.0) -> Revision:
        self._require_running()
        name = self.profile.service.name
        rev = self.rollout.record(version, None, cause or f"kubectl set image {name}={version}")
        return self._roll(rev, timeout, wait)

    def apply_config(self, changes: dict[str, str], cause: str = "") -> dict[str, str]:
        previous = self.rollout.config()
        return self.replace_config({**previous, **{k: str(v) for k, v in changes.items()}}, cause)

    def replace_config(self, data: dict[str, str], cause: str = "") -> dict[str, str]:
        previous = self.rollout.config()
        self.rollout.set_config(data)
        pods = self._pods()
        revs = {r.number: r for r in self.rollout.revisions()}
        current = self.rollout.current()
        by_name = {n: revs.get(pods.get(n, {}).get("revision"), current) for n in self.replica_names}
        prepare_replicas(self.service, self.replica_names, by_name, data)
        changed = sorted(k for k in set(previous) | set(data) if previous.get(k) != data.get(k))
        self.event_log.record("Normal", reasons.CONFIG_CHANGED, self._object("configmap"),
                              f"configuration changed ({', '.join(changed) or 'no keys'}): {cause}".rstrip(": "))
        return previous

    # --- dependency actions --------------------------------------------------------------------
    def stop_dependency(self, name: str) -> None:
        self.dependencies.stop(self._dependency(name))
        self.event_log.record("Warning", reasons.DEPENDENCY_STOPPED, name, f"{name} stopped")

    def start_dependency(self, name: str, wait: bool = True, timeout: float = 30.0) -> None:
        self.dependencies.start(self._dependency(name))
        self.event_log.record("Normal", reasons.DEPENDENCY_STARTED, name, f"{name} started")
        deadline = time.monotonic() + timeout
        while wait and not probes.tcp_open(self.port(name)):
            if time.monotonic() > deadline:
                raise TargetError(f"{name} did not come back within {timeout:.0f}s")
            interrupts.pause(0.05)  # poll (a safe point)

    def hang_dependency(self, name: str) -> None:
        provider = self.dependencies
        if not provider.hang(self._dependency(name)):
            raise TargetError(f"{name} is not running: nothing to hang")
        self.event_log.record("Warning", reasons.DEPENDENCY_HUNG, name, f"{name} frozen ({provider.hang_how})")

    def release_dependency(self, name: str) -> None:
        provider = self.dependencies
        if provider.release(self._dependency(name)):
            self.event_log.record("Normal", reasons.DEPENDENCY_RELEASED, name,
                                  f"{name} resumed ({provider.release_how})")

    # --- recovery ----------------------------------------------------------------------------------
    def start_replicas(self, names: list[str] | None = None) -> list[str]:
        """Start replicas that are stopped or gave up (crash loop), like a controller recreating pods."""
        started = []
        for name in self._select(names):
            if self.supervisor.info(name).get("statename") in ("STOPPED", "EXITED", "FATAL", "BACKOFF"):
                self.supervisor.start(name)
                started.append(name)
        return started

    def wait_healthy(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        checks = serving_checks(self.profile)
        while time.monotonic() < deadline:
            # a replica that is ready but not yet back in HAProxy's rotation (its next check, <= 0.5 s) is not
            # healthy: the diagnosis would rightly call the service impacted
            if all(r.ready for r in self.replicas()) and self._all_in_rotation() and all(
                probes.http_status(self.base_url() + path, timeout=2.0) == status for path, status in checks
            ):
                return True
            interrupts.pause(0.2)  # poll (a safe point: an interrupt Python lost lands here)
        return False

    def _all_in_rotation(self) -> bool:
        """Every replica is a load-balancer server that HAProxy marks UP."""
        endpoints = self.endpoints()
        return len(endpoints) == len(self.replica_names) and all(e.ready for e in endpoints)

    def prometheus_url(self) -> str | None:
        ports = self.stack["ports"]
        return f"http://127.0.0.1:{ports['prometheus']}" if "prometheus" in ports else None

    def received_alerts_file(self) -> str | None:
        if "alert-receiver" not in self.stack["ports"]:
            return None
        from gameday.targets.local.monitoring import received_alerts_path

        return str(received_alerts_path(self.state))

    def identity(self) -> dict[str, Any]:
        return {"kind": "local", "state_dir": str(self.state.root)}

    def bad_release(self) -> str:
        return service_mod.bad_release(self.profile)

    def broken_config(self) -> dict[str, str]:
        return service_mod.broken_config(self.profile)

    def canary(self) -> CanaryDriver:
        """Replicas switched one at a time to the new release behind HAProxy, measured from its request log."""
        from gameday.targets.local.canary import LocalCanary

        return LocalCanary(self)


def _same_content(actual: str, wanted: str) -> bool:
    """Whether a rendered file says the same: equal JSON objects whatever their key order (the live configuration
    is stored sorted), equal lines in any order (an env file), else equal text."""
    try:
        return bool(json.loads(actual) == json.loads(wanted))
    except ValueError:
        return sorted(actual.splitlines()) == sorted(wanted.splitlines())
