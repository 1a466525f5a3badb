"""What the targets' operations return and raise: replicas, endpoints, revisions, events, states, and the errors.

The vocabulary is the runbook's: replicas are pods, endpoints are the replicas the load balancer sends traffic to,
revisions are the rollout history. The operations themselves are :class:`gameday.targets.base.Target`'s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gameday import placeholders
from gameday.dependencies import DependencyCheck
from gameday.errors import UsageError
from gameday.profile import Dependency, Profile

__all__ = ["DependencyCheck"]  # re-exported: what Target.check_dependency returns


class TargetError(Exception):
    """An operation on a target failed; the message is one clear line for a person."""


def profile_dependency(profile: Profile, name: str) -> Dependency:
    """The profile's dependency of that name; :class:`UnknownDependencyError` names the known ones."""
    try:
        return profile.dependency(name)
    except UsageError as exc:
        raise UnknownDependencyError(str(exc)) from None


def serving_checks(profile: Profile) -> list[tuple[str, int]]:
    """(path, status) a serving service answers: its health path, then its first probe without placeholders.

    What ``up`` and ``wait_healthy`` wait for through the load balancer / Service: healthy is not enough, the API
    must answer too.
    """
    checks = [(profile.service.health_path, 200)]
    for endpoint in profile.probe_endpoints() + list(profile.endpoints):
        if endpoint.method == "GET" and not list(placeholders.names(endpoint.path)):
            checks.append((endpoint.path, endpoint.expect.status))
            break
    return checks


class NothingChanged(TargetError):
    """An operation refused before it changed anything (an unknown name): its ledger entry can be cleared."""


class UnknownDependencyError(NothingChanged):
    """A dependency name that the service's profile does not have (the message names the known ones)."""


class NotApplicableError(NothingChanged):
    """The operation does not apply to this service: its profile has no bad release, the dependency is external."""


@dataclass(frozen=True)
class Replica:
    """One replica of the service, like a row of ``kubectl get pods``."""

    name: str
    phase: str  # Running, Pending, Stopped, CrashLoopBackOff, Terminating, Unknown
    ready: bool
    restarts: int
    revision: int | None = None
    version: str | None = None
    pid: int | None = None
    address: str | None = None  # host:port
    started_at: float | None = None
    probe: str = ""  # why its last readiness probe failed, where the target ran it: timeout, refused, HTTP 503


@dataclass(frozen=True)
class Endpoint:
    """A replica address as the load balancer / Service sees it."""

    name: str
    address: str
    ready: bool
    state: str = ""  # load balancer's word: UP, DOWN, MAINT, DRAIN ...


@dataclass(frozen=True)
class LoadBalancer:
    """The load balancer / Service in front of the replicas."""

    name: str
    url: str
    state: str  # "up" when it is answering, "down" when its process is gone
    ready_backends: int
    total_backends: int


@dataclass(frozen=True)
class Revision:
    """One entry of the rollout history."""

    number: int
    version: str
    change_cause: str
    created_at: float
    config_hash: str = ""


@dataclass(frozen=True)
class Event:
    """A timestamped event, like ``kubectl get events``."""

    timestamp: float
    type: str  # Normal or Warning
    reason: str
    object: str
    message: str
    source: str = ""  # who wrote it: kubelet, supervisord, a controller ... or gameday (the diagnosis ignores those)


@dataclass(frozen=True)
class ConfigChange:
    """A change of the service's configuration as the platform records it: a ConfigMap's last write (its
    ``managedFields`` time), a replica's configuration file edited on disk (``ls -l``), a replica running a command
    its revision does not have. What the diagnosis reads to say "configuration changed", whoever changed it."""

    at: float
    object: str  # configmap/NAME, file/REPLICA/NAME, command/REPLICA
    kind: str  # config (what the service reads) or command (what runs: a release by hand)
    detail: str


@dataclass(frozen=True)
class DependencyState:
    """A dependency's process/workload state as the target sees it."""

    name: str
    state: str  # running, stopped, frozen, external, unknown
    address: str = ""
    pid: int | None = None
    container: str | None = None  # the local target's containers provider: short container id and image
    image: str | None = None


@dataclass(frozen=True)
class DependencyAdmin:
    """A superuser session to a dependency the target runs (``Target.dependency_admin``), for the faults that change
    the server itself (its sessions, roles, client authentication): libpq's connection arguments, never through the
    fault proxy, and a folder where such a fault keeps its own files on the machine that runs the session."""

    name: str
    host: str  # where the superuser session connects: a Unix-socket folder or a host
    port: int
    user: str
    database: str
    client_host: str  # the dependency's own TCP host: connections made there are made as the service makes them
    files: str  # a folder for the fault's own files (a holder's pid, a saved secret), kept with the target's state


@dataclass
class Status:
    """Everything ``gameday status`` shows."""

    target: str
    base_url: str
    replicas: list[Replica]
    endpoints: list[Endpoint]
    load_balancer: LoadBalancer
    dependencies: list[DependencyState]
    components: list[dict[str, Any]] = field(default_factory=list)
    # the local target's fault proxy: pid, API port, each proxy (listen, upstream, enabled) and its active toxics
    fault_proxy: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)
