"""The local target: the Target interface over the stack that ``gameday up`` runs on loopback ports."""

from __future__ import annotations

import contextlib
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gameday.config import Settings, get_settings
from gameday.state import StateDir, read_json, write_json_atomic
from gameday.targets.base import (
    DEPENDENCIES,
    DependencyCheck,
    DependencyState,
    Endpoint,
    Event,
    LoadBalancer,
    Replica,
    Revision,
    Status,
    Target,
    TargetError,
    UnknownDependencyError,
)
from gameday.targets.local import probes
from gameday.targets.local.components import LB_BACKEND, replica_config_path
from gameday.targets.local.events import EventLog, supervisor_events
from gameday.targets.local.haproxy import HAProxyRuntime
from gameday.targets.local.rollout import RevisionRecord, RolloutStore, config_hash
from gameday.targets.local.stack import load_stack
from gameday.targets.local.supervisor import Supervisor

PODS_FILE = ("rollout", "pods.json")


def write_replica_configs(
    state: StateDir, names: list[str], revisions: dict[str, RevisionRecord], config: dict[str, str]
) -> None:
    """Write each replica's configuration file (live config + its revision's version) and pod record."""
    pods = read_json(state.path(*PODS_FILE), {})
    now = time.time()
    for name in names:
        rev = revisions[name]
        if pods.get(name, {}).get("revision") != rev.number or name not in pods:
            pods[name] = {"revision": rev.number, "version": rev.version, "created_at": now}
        pods[name]["revision"] = rev.number
        write_json_atomic(replica_config_path(state, name), {**config, "APP_VERSION": rev.version})
    write_json_atomic(state.path(*PODS_FILE), pods)


def _process_state_letter(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


class LocalTarget(Target):
    """The runbook's operations on the local stack."""

    name = "local"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.state = StateDir(self.settings.state_dir)
        self.supervisor = Supervisor(self.state)
        self.rollout = RolloutStore(self.state)
        self.event_log = EventLog(self.state)

    # --- stack description -------------------------------------------------------------------
    @property
    def stack(self) -> dict[str, Any]:
        """What ``gameday up`` recorded; raises when the stack was never started."""
        stack = load_stack(self.state)
        if not stack:
            raise TargetError(f"local stack is not running (no {self.state.path('stack.json')}); run 'gameday up'")
        return stack

    @property
    def replica_names(self) -> list[str]:
        """The replicas' names, in order."""
        return list(self.stack["replicas"])

    def port(self, component: str) -> int:
        """The loopback port of a component."""
        return int(self.stack["ports"][component])

    @property
    def lb_runtime(self) -> HAProxyRuntime:
        """HAProxy's runtime API."""
        return HAProxyRuntime(self.state.path("haproxy", "haproxy.sock"), LB_BACKEND)

    def base_url(self) -> str:
        return self.stack["load_balancer_url"]

    def reachable(self) -> None:
        if not self.supervisor.alive():
            raise TargetError("local stack is not running: start it with 'gameday up' (make up)")
        if not probes.tcp_open(self.port("load-balancer")):
            raise TargetError(f"load balancer not listening on {self.base_url()}")

    # --- observation -------------------------------------------------------------------------
    def _pods(self) -> dict[str, dict[str, Any]]:
        return read_json(self.state.path(*PODS_FILE), {})

    def replicas(self) -> list[Replica]:
        infos = self.supervisor.processes()
        pods = self._pods()
        spawns = [e for e in supervisor_events(self.state.logs / "supervisord.log") if e.reason == "Started"]
        names = self.replica_names

        def ready(name: str) -> bool:
            return probes.http_status(f"http://127.0.0.1:{self.port(name)}/readyz", timeout=0.5) == 200

        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            readiness = dict(zip(names, pool.map(ready, names), strict=True))
        out = []
        for name in names:
            info = infos.get(name, {})
            pod = pods.get(name, {})
            created = float(pod.get("created_at", 0))
            restarts = max(0, sum(1 for e in spawns if e.object == name and e.timestamp >= created - 1) - 1)
            statename = info.get("statename", "UNKNOWN")
            pid = info.get("pid") or None
            phase = {
                "RUNNING": "Running",
                "STARTING": "Running",
                "BACKOFF": "CrashLoopBackOff",
                "FATAL": "CrashLoopBackOff",
                "STOPPED": "Stopped",
                "EXITED": "Terminated",
                "STOPPING": "Terminating",
            }.get(statename, "Unknown")
            if pid and _process_state_letter(pid) == "T":
                phase = "Frozen"
            out.append(
                Replica(
                    name=name,
                    phase=phase,
                    ready=readiness[name] and phase == "Running",
                    restarts=restarts,
                    revision=pod.get("revision"),
                    version=pod.get("version"),
                    pid=pid if phase not in ("Stopped", "Terminated", "CrashLoopBackOff") else None,
                    address=f"127.0.0.1:{self.port(name)}",
                    started_at=float(info["start"]) if info.get("start") else None,
                )
            )
        return out

    def endpoints(self) -> list[Endpoint]:
        try:
            servers = self.lb_runtime.servers()
        except TargetError:
            return []
        return [Endpoint(s.name, s.address, s.up, s.status) for s in servers]

    def load_balancer(self) -> LoadBalancer:
        endpoints = self.endpoints()
        answering = probes.tcp_open(self.port("load-balancer"))
        return LoadBalancer(
            name="ecommerce-backend-lb (haproxy)",
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
        if name not in DEPENDENCIES:
            raise UnknownDependencyError(name)
        return name

    def dependency_states(self) -> list[DependencyState]:
        infos = self.supervisor.processes()
        out = []
        for name in DEPENDENCIES:
            info = infos.get(name, {})
            pid = info.get("pid") or None
            state = "running" if info.get("statename") in ("RUNNING", "STARTING") else "stopped"
            if pid and _process_state_letter(pid) == "T":
                state = "frozen"
            out.append(DependencyState(name, state, f"127.0.0.1:{self.port(name)}", pid))
        return out

    def check_dependency(self, name: str, timeout: float = 2.0) -> DependencyCheck:
        port = self.port(self._dependency(name))
        check = {
            "postgres": probes.pg_isready,
            "redis": probes.redis_ping,
            "kafka": probes.kafka_api_versions,
        }[name]
        return check("127.0.0.1", port, timeout)

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
            raise TargetError(f"no replica {unknown[0]!r}: expected one of {', '.join(self.replica_names)}")
        return chosen

    def terminate_replicas(self, names: list[str] | None = None) -> list[str]:
        killed = []
        for name in self._select(names):
            if self.supervisor.signal_group(name, signal.SIGKILL):
                killed.append(name)
                self.event_log.record("Normal", "Killing", name, f"Killing replica {name} (SIGKILL)")
        return killed

    def freeze_replicas(self, names: list[str] | None = None) -> list[str]:
        frozen = []
        for name in self._select(names):
            if self.supervisor.signal_group(name, signal.SIGSTOP):
                frozen.append(name)
                self.event_log.record("Warning", "Frozen", name, f"Replica {name} frozen (SIGSTOP)")
        return frozen

    def thaw_replicas(self, names: list[str] | None = None) -> list[str]:
        thawed = []
        for name in self._select(names):
            if self.supervisor.signal_group(name, signal.SIGCONT):
                thawed.append(name)
                self.event_log.record("Normal", "Thawed", name, f"Replica {name} resumed (SIGCONT)")
        return thawed

    def _replica_ready(self, name: str) -> bool:
        return probes.http_status(f"http://127.0.0.1:{self.port(name)}/readyz", timeout=0.5) == 200

    def _roll(self, rev: RevisionRecord, timeout: float, wait: bool) -> Revision:
        """Rolling replacement, one replica at a time, taken out of the load balancer while it restarts."""
        self.event_log.record(
            "Normal", "ScalingReplicaSet", "deployment/ecommerce-backend",
            f"Rolling out revision {rev.number} ({rev.version}): {rev.change_cause}",
        )
        config = self.rollout.config()
        deadline = time.monotonic() + timeout
        for name in self.replica_names:
            self._lb_state(name, "maint")
            self.supervisor.stop(name)
            write_replica_configs(self.state, [name], {name: rev}, config)
            pods = self._pods()
            pods[name]["created_at"] = time.time()
            write_json_atomic(self.state.path(*PODS_FILE), pods)
            self.supervisor.start(name)
            self._lb_state(name, "ready")
            if not wait:
                continue
            while not self._replica_ready(name):
                if time.monotonic() > deadline:
                    self.event_log.record(
                        "Warning", "ProgressDeadlineExceeded", "deployment/ecommerce-backend",
                        f"revision {rev.number}: replica {name} not ready within {timeout:.0f}s",
                    )
                    return rev.public()
                time.sleep(0.1)  # poll
        return rev.public()

    def _lb_state(self, name: str, state: str) -> None:
        with contextlib.suppress(TargetError):  # the load balancer is down: nothing to drain
            self.lb_runtime.set_state(name, state)

    def rollout_restart(self, wait: bool = True, timeout: float = 60.0) -> Revision:
        current = self.rollout.current()
        rev = self.rollout.record(current.version, time.time(), "kubectl rollout restart")
        return self._roll(rev, timeout, wait)

    def rollout_undo(self, to_revision: int | None = None, wait: bool = True, timeout: float = 60.0) -> Revision:
        target = self.rollout.find(to_revision)
        current = self.rollout.current()
        if target.template == current.template:
            self.event_log.record("Normal", "RollbackSkipped", "deployment/ecommerce-backend",
                                  f"revision {target.number} already matches the current template")
            return current.public()
        rev = self.rollout.record(target.version, target.restarted_at, f"rollback to revision {target.number}")
        self.event_log.record("Normal", "DeploymentRollback", "deployment/ecommerce-backend",
                              f"Rolled back to revision {target.number} ({target.version})")
        return self._roll(rev, timeout, wait)

    def deploy(self, version: str, cause: str = "", wait: bool = True, timeout: float = 60.0) -> Revision:
        rev = self.rollout.record(version, None, cause or f"kubectl set image ecommerce-backend={version}")
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
        write_replica_configs(self.state, self.replica_names, by_name, data)
        changed = sorted(k for k in set(previous) | set(data) if previous.get(k) != data.get(k))
        self.event_log.record("Normal", "ConfigChanged", "configmap/ecommerce-backend-config",
                              f"configuration changed ({', '.join(changed) or 'no keys'}): {cause}".rstrip(": "))
        return previous

    # --- dependency actions --------------------------------------------------------------------
    def stop_dependency(self, name: str) -> None:
        self.supervisor.stop(self._dependency(name))
        self.event_log.record("Warning", "DependencyStopped", name, f"{name} stopped")

    def start_dependency(self, name: str, wait: bool = True, timeout: float = 30.0) -> None:
        self._dependency(name)
        self.supervisor.signal_group(name, signal.SIGCONT) if self._running(name) else None
        self.supervisor.start(name)
        self.event_log.record("Normal", "DependencyStarted", name, f"{name} started")
        deadline = time.monotonic() + timeout
        while wait and not probes.tcp_open(self.port(name)):
            if time.monotonic() > deadline:
                raise TargetError(f"{name} did not come back within {timeout:.0f}s")
            time.sleep(0.05)  # poll

    def _running(self, name: str) -> bool:
        return self.supervisor.info(name).get("statename") in ("RUNNING", "STARTING")

    def hang_dependency(self, name: str) -> None:
        if not self.supervisor.signal_group(self._dependency(name), signal.SIGSTOP):
            raise TargetError(f"{name} is not running: nothing to hang")
        self.event_log.record("Warning", "DependencyHung", name, f"{name} frozen (SIGSTOP)")

    def release_dependency(self, name: str) -> None:
        if self.supervisor.signal_group(self._dependency(name), signal.SIGCONT):
            self.event_log.record("Normal", "DependencyReleased", name, f"{name} resumed (SIGCONT)")

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
        url = self.base_url() + "/api/products"
        while time.monotonic() < deadline:
            if all(r.ready for r in self.replicas()) and probes.http_status(url, timeout=2.0) == 200:
                return True
            time.sleep(0.2)  # poll
        return False

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
        return self.settings.local.bad_release_version

    def broken_config(self) -> dict[str, str]:
        # a wrong database host: 127.0.0.2 is loopback, and PostgreSQL listens on 127.0.0.1 only
        return {"DB_HOST": "127.0.0.2"}
