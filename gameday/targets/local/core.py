"""What every part of the local target stands on: the stack ``gameday up`` recorded, its profile, its supervisor,
rollout store and event log; and what the target says about itself (where it answers, its events, a status).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gameday.config import Settings
from gameday.errors import UsageError
from gameday.profile import Profile
from gameday.profile import load as load_profile
from gameday.state import StateDir, read_json
from gameday.targets import probes
from gameday.targets.base import Target
from gameday.targets.local import service as service_mod
from gameday.targets.local import starts
from gameday.targets.local.components import HAPROXY_CHECK_INTER_S
from gameday.targets.local.events import EventLog
from gameday.targets.local.haproxy import HAProxyRuntime
from gameday.targets.local.monitoring import received_alerts_path
from gameday.targets.local.rollout import PODS_FILE, RolloutStore
from gameday.targets.local.service import Service, database_password
from gameday.targets.local.stack import load_stack
from gameday.targets.local.supervisor import NOT_RUNNING, Supervisor
from gameday.targets.model import Event, TargetError


class LocalCore(Target):
    """The local stack as every part of :class:`~gameday.targets.local.target.LocalTarget` reads it."""

    def __init__(self, settings: Settings, *, any_profile: bool = False) -> None:
        """A running stack is judged with the profile it runs, or not at all: another profile (even a copy of the
        same service's, being edited) would judge it by endpoints, journeys and SLOs it does not run, and every
        command that builds the target gets the refusal here. ``any_profile``: undoing a ledger entry, which is
        about the stack, whatever profile the command was given (the stack's own is used: :attr:`profile`)."""
        self.settings = settings
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

    def health_timeout_s(self) -> float:
        """The replicas' readiness probe timeout (``local.readiness.timeout_s``), HAProxy's ``timeout check`` too."""
        return service_mod.local_of(self.profile).readiness.timeout_s

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

    def _pods(self) -> dict[str, dict[str, Any]]:
        return read_json(self.state.path(*PODS_FILE), {})

    def events(self, limit: int = 20) -> list[Event]:
        return self.event_log.since(float(self.stack["started_at"]) - 5)[-limit:]

    def start_budget(self) -> starts.StartBudget:
        """How long one replica may take to start and get ready: from the start times measured at ``up`` and the
        profile's ``local.start_timeout_s`` (:mod:`gameday.targets.local.starts`)."""
        return starts.budget(self.stack, service_mod.local_of(self.profile).start_timeout_s)

    def prometheus_url(self) -> str | None:
        ports = self.stack["ports"]
        return f"http://127.0.0.1:{ports['prometheus']}" if "prometheus" in ports else None

    def received_alerts_file(self) -> str | None:
        if "alert-receiver" not in self.stack["ports"]:
            return None
        return str(received_alerts_path(self.state))

    def identity(self) -> dict[str, Any]:
        return {"kind": "local", "state_dir": str(self.state.root)}

    def bad_release(self) -> str:
        return service_mod.bad_release(self.profile)

    def broken_config(self) -> dict[str, str]:
        return service_mod.broken_config(self.profile)
