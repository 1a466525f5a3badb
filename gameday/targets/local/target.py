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

import httpx

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
from gameday.targets.local import probes, providers, starts
from gameday.targets.local import service as service_mod
from gameday.targets.local.components import HAPROXY_CHECK_INTER_S
from gameday.targets.local.events import EventLog, supervisor_events
from gameday.targets.local.haproxy import HAProxyRuntime
from gameday.targets.local.providers import DependencyProvider
from gameday.targets.local.rollout import PODS_FILE, RevisionRecord, RolloutStore, config_hash, prepare_replicas
from gameday.targets.local.service import FAULT_PROXY, Service, database_password, proxy_port_name
from gameday.targets.local.stack import load_stack
from gameday.targets.local.supervisor import NOT_RUNNING, Supervisor

LIVE_CONFIG = ("rollout", "config.json")  # the live configuration (the ConfigMap): RolloutStore keeps it there
LB_SETTLE_S = 2.0  # HAProxy's checks (every HAPROXY_CHECK_INTER_S) have a ready replica back in rotation within this


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

    def answer_timeout_s(self) -> float:
        """3 s beyond the profile's ``local.lb_timeout_s``, HAProxy's server timeout."""
        return service_mod.local_of(self.profile).lb_timeout_s + 3.0

    def symptom_lag_s(self) -> float:
        """Beyond the defaults (a 2 s server timeout, a 1 s probe failing twice): the profile's longer ones."""
        local = service_mod.local_of(self.profile)
        probe = local.readiness.failure_threshold * (HAPROXY_CHECK_INTER_S + local.readiness.timeout_s)
        return max(0.0, local.lb_timeout_s - 2.0) + max(0.0, probe - 2 * (HAPROXY_CHECK_INTER_S + 1.0))

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
            # spawns since its pod was recorded (just before its start; the log keeps milliseconds): a crash-looping
            # replica respawned by supervisor a moment before a rollout replaced it is not the new pod's restart
            restarts = max(0, sum(1 for e in spawns if e.object == name and e.timestamp >= created - 0.01) - 1)
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
        known = [*self.replica_names, *(p["name"] for p in self.stack["programs"] if p.get("kind") == "process")]
        lines: list[str] = []
        for name in names:
            if name not in known:  # a replica, or a process beside them (local.processes: replica-0-worker)
                raise TargetError(f"no replica {name!r}: expected one of {', '.join(known)}")
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
        try:
            proxied = self.stack["ports"].get(proxy_port_name(name))
        except TargetError:  # no stack: an external dependency is still checked at its own address
            proxied = None
        if proxied is not None:  # from the replicas' side: through the fault proxy, as their connections go
            host, port = "127.0.0.1", int(proxied)
        elif dep.address is None:
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
        status.fault_proxy = self._fault_proxy_status(infos.get(FAULT_PROXY, {}).get("pid") or None)
        return status

    # --- network faults: the fault proxy's API (Toxiproxy's) -----------------------------------------
    def _proxy_api(self, method: str, path: str, body: dict[str, Any] | None = None,
                   missing_ok: bool = False) -> Any:
        """One call to the fault proxy's API; one clear line when the stack has none or it fails."""
        port = self.stack["ports"].get(FAULT_PROXY)
        if port is None:
            raise NotApplicableError("this local stack runs no fault proxy (started before it existed): "
                                     "'gameday down' and 'gameday up' it")
        try:
            answer = httpx.request(method, f"http://127.0.0.1:{port}{path}", json=body, timeout=5.0)
        except httpx.HTTPError as exc:
            raise TargetError(f"the fault proxy on 127.0.0.1:{port} does not answer: {exc or type(exc).__name__}"
                              ) from None
        if missing_ok and answer.status_code == 404:
            return None
        if answer.status_code >= 400:
            raise TargetError(f"the fault proxy refused {method} {path}: {answer.text.strip()[:200]}")
        return answer.json() if answer.content else None

    def _proxied(self, dependency: str) -> str:
        """A dependency the fault proxy fronts (its proxy is named like it)."""
        profile_dependency(self.profile, dependency)
        return dependency

    def add_toxic(self, dependency: str, toxic: dict[str, Any]) -> None:
        self._proxy_api("POST", f"/proxies/{self._proxied(dependency)}/toxics", toxic)

    def remove_toxic(self, dependency: str, name: str) -> None:
        self._proxy_api("DELETE", f"/proxies/{self._proxied(dependency)}/toxics/{name}", missing_ok=True)

    def set_dependency_link(self, dependency: str, enabled: bool) -> None:
        self._proxy_api("POST", f"/proxies/{self._proxied(dependency)}", {"enabled": enabled})

    def reset_network_faults(self) -> None:
        self._proxy_api("POST", "/reset")

    def _fault_proxy_status(self, pid: int | None) -> dict[str, Any] | None:
        """What ``status`` shows of the fault proxy: pid, API port, and each proxy with its active toxics."""
        port = self.stack["ports"].get(FAULT_PROXY)
        if port is None:
            return None
        try:
            proxies = httpx.get(f"http://127.0.0.1:{port}/proxies", timeout=2.0).json()
        except (httpx.HTTPError, ValueError) as exc:
            return {"pid": pid, "api_port": port, "error": str(exc) or type(exc).__name__, "proxies": []}
        return {"pid": pid, "api_port": port, "api_url": f"http://127.0.0.1:{port}",
                "proxies": [{k: proxy.get(k) for k in ("name", "listen", "upstream", "enabled", "toxics")}
                            for proxy in proxies.values()]}

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
        """The readiness probe, as a kubelet runs it: the profile's ``local.readiness`` (default 1 s, Kubernetes'
        timeoutSeconds, and 2 failures in a row: ``failureThreshold`` > 1). One answer slower than the timeout on a busy
        machine is not a replica out of service (measured: once in CI, "Running, not ready" with HAProxy's own
        checks of it UP); a refused connection or a 503 fails both attempts at once. Returns (ready, why not: the
        last attempt's ``timeout``, ``refused`` or ``HTTP 503``), what ``kubectl describe pod`` shows."""
        url = f"http://127.0.0.1:{self.port(name)}{self.profile.service.readiness_path}"
        why = ""
        readiness = service_mod.local_of(self.profile).readiness
        for _ in range(readiness.failure_threshold):
            status, error = probes.http_probe(url, timeout=readiness.timeout_s)
            if status == 200:
                return True, ""
            why = error or f"HTTP {status}"
        return False, why

    def start_budget(self) -> starts.StartBudget:
        """How long one replica may take to start and get ready: from the start times measured at ``up`` and the
        profile's ``local.start_timeout_s`` (:mod:`gameday.targets.local.starts`)."""
        return starts.budget(self.stack, service_mod.local_of(self.profile).start_timeout_s)

    def _roll(self, rev: RevisionRecord, timeout: float | None, wait: bool) -> Revision:
        """Rolling replacement, one replica at a time, taken out of the load balancer while it restarts. The
        deadline is the whole rollout's (default: the start budget times the replicas); when it passes, the
        ``ProgressDeadlineExceeded`` event names it and what each replica was doing."""
        self.event_log.record(
            "Normal", reasons.SCALING_REPLICA_SET, self._object("deployment"),
            f"Rolling out revision {rev.number} ({rev.version}): {rev.change_cause}",
        )
        config = self.rollout.config()
        service = self.service
        names = self.replica_names
        budget = self.start_budget()
        limit = timeout if timeout is not None else budget.rollout_s(len(names))
        how = f" ({budget.explain(len(names))})" if timeout is None else ""
        deadline = time.monotonic() + limit
        for i, name in enumerate(names):
            self._lb_state(name, "maint")
            self.supervisor.stop(name)
            prepare_replicas(service, [name], {name: rev}, config, restarted=True)
            self.supervisor.start(name)
            started = time.monotonic()
            self._lb_state(name, "ready")
            if not wait:
                continue
            while not self._replica_ready(name):
                if time.monotonic() > deadline:
                    doing = starts.rollout_progress(names, i, rev.version, time.monotonic() - started)
                    self.event_log.record(
                        "Warning", reasons.PROGRESS_DEADLINE_EXCEEDED, self._object("deployment"),
                        f"rollout of {rev.version} (revision {rev.number}) not done within {limit:.0f} s{how}: "
                        f"{doing}",
                    )
                    return rev.public()
                interrupts.pause(0.1)  # poll (a safe point)
        for program, process, replica in service.process_programs(names):
            if replica is None:  # a scheduler runs the new release too, once its replicas do (theirs went with them)
                self.supervisor.stop(program)
                service.write_process(process, None, rev.version, config)
                self.supervisor.start(program)
        return rev.public()

    def _lb_state(self, name: str, state: str) -> None:
        with contextlib.suppress(TargetError):  # the load balancer is down: nothing to drain
            self.lb_runtime.set_state(name, state)

    def rollout_restart(self, wait: bool = True, timeout: float | None = None) -> Revision:
        self._require_running()
        current = self.rollout.current()
        rev = self.rollout.record(current.version, time.time(), "kubectl rollout restart")
        return self._roll(rev, timeout, wait)

    def rollout_undo(self, to_revision: int | None = None, wait: bool = True,
                     timeout: float | None = None) -> Revision:
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

    def deploy(self, version: str, cause: str = "", wait: bool = True, timeout: float | None = None) -> Revision:
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

    def start_dependency(self, name: str, wait: bool = True, timeout: float | None = None) -> None:
        """Start it again; wait (default: the profile's ``local.start_timeout_s``) until it listens."""
        self.dependencies.start(self._dependency(name))
        self.event_log.record("Normal", reasons.DEPENDENCY_STARTED, name, f"{name} started")
        timeout = timeout if timeout is not None else service_mod.local_of(self.profile).start_timeout_s
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

    def wait_healthy(self, timeout: float | None = None) -> bool:
        """Default ``timeout``: one replica's start budget (:meth:`start_budget`), the replicas starting together
        as they did when it was measured at ``up``, plus a few of HAProxy's checks."""
        if timeout is None:
            timeout = self.start_budget().per_replica_s + LB_SETTLE_S
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
