"""The local target's dependencies: run by a provider (supervisor or containers), checked as the runbook's step 3
checks them, stopped, started, hung and released; a superuser session to the PostgreSQL it runs itself.
"""

from __future__ import annotations

import json
import time

from gameday import interrupts, reasons
from gameday.dependencies import KINDS, Address
from gameday.profile import Dependency
from gameday.targets import probes
from gameday.targets.local import providers
from gameday.targets.local import service as service_mod
from gameday.targets.local.components import DATABASE_RECORD
from gameday.targets.local.core import LocalCore
from gameday.targets.local.providers import DependencyProvider
from gameday.targets.local.service import proxy_port_name
from gameday.targets.model import (
    DependencyAdmin,
    DependencyCheck,
    DependencyState,
    NotApplicableError,
    TargetError,
    profile_dependency,
)


class LocalDependencies(LocalCore):
    """PostgreSQL, Redis, the broker ... as the stack runs them."""

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

    def check_dependency(self, name: str, timeout: float | None = None) -> DependencyCheck:
        """The kind's check (pg_isready, redis-cli ping ...) where the stack runs it, or at an external address."""
        dep = profile_dependency(self.profile, name)
        timeout = dep.check_timeout_s if timeout is None else timeout
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

    def dependency_admin(self, name: str) -> DependencyAdmin:
        """A superuser session to a PostgreSQL the stack runs itself: over its Unix socket, which ``initdb
        --auth=trust`` trusts, as the profile's database user (who owns the cluster). Never through the service's TCP
        address: that may pass through the fault proxy, and a fault may change how it authenticates. The
        containers provider's PostgreSQL has no such socket here: NotApplicableError, with the reason."""
        dep = profile_dependency(self.profile, self._dependency(name))
        if dep.kind != "postgres":
            raise NotApplicableError(f"{name} is {dep.kind}: the local target opens superuser sessions to "
                                     "PostgreSQL only")
        record_file = self.state.path(name, DATABASE_RECORD)
        try:
            record = json.loads(record_file.read_text())
        except (OSError, ValueError):
            record = None
        if not isinstance(record, dict) or not record.get("user"):
            raise NotApplicableError(f"{name}: no superuser session here: the stack does not run this PostgreSQL "
                                     f"itself (no {record_file}; a container's has no trusted socket)")
        return DependencyAdmin(name=name, host=str(self.state.path(name, "run")), port=self.port(name),
                               user=str(record["user"]), database=str(record.get("database") or "postgres"),
                               client_host="127.0.0.1", files=str(self.state.subdir("faults")))
