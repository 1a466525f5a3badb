"""The local target's replicas: supervisor's processes behind HAProxy, probed as a kubelet probes pods; killed,
frozen and thawed with signals; waited on until every one is ready and in rotation.
"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gameday import interrupts, reasons
from gameday.targets import probes
from gameday.targets.local import service as service_mod
from gameday.targets.local.components import LB_SETTLE_S
from gameday.targets.local.core import LocalCore
from gameday.targets.local.events import supervisor_events
from gameday.targets.model import Endpoint, LoadBalancer, NothingChanged, Replica, TargetError, serving_checks


class LocalReplicas(LocalCore):
    """Replicas (pods), the load balancer's view of them, and their health."""

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
            # healthy: the diagnosis would rightly call the service impacted; each check waits as long as a client
            # does through HAProxy (the profile's timeout: a heavy service's page queued on a busy runner took >2 s)
            if all(r.ready for r in self.replicas()) and self._all_in_rotation() and all(
                probes.http_status(self.base_url() + path, timeout=self.answer_timeout_s()) == status
                for path, status in checks
            ):
                return True
            interrupts.pause(0.2)  # poll (a safe point: an interrupt Python lost lands here)
        return False

    def _all_in_rotation(self) -> bool:
        """Every replica is a load-balancer server that HAProxy marks UP."""
        endpoints = self.endpoints()
        return len(endpoints) == len(self.replica_names) and all(e.ready for e in endpoints)
