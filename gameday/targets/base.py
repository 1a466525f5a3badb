"""The one target interface everything above the targets talks to.

A target is where the profile's service runs: the embedded local stack, or a Kubernetes
cluster. Targets know nothing of chaos, verdicts, reports or the CLI. The vocabulary is the
runbook's: replicas are pods, endpoints are the replicas the load balancer sends traffic to,
revisions are the rollout history.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from gameday import placeholders
from gameday.dependencies import DependencyCheck
from gameday.errors import UsageError
from gameday.profile import Dependency, Profile

if TYPE_CHECKING:
    from gameday.targets.canary import CanaryDriver

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


class Target(ABC):
    """The operations the runbook uses, on whatever runs the service."""

    name: str = "target"

    # --- observation (read-only) -------------------------------------------------------------
    @abstractmethod
    def base_url(self) -> str:
        """The load balancer's URL, e.g. ``http://127.0.0.1:8080``."""

    def answer_timeout_s(self) -> float:
        """How long a client waits for the service's answer through :meth:`base_url`: longer than the load
        balancer's own server timeout, so that a hang shows as its 504, as users see it (an ingress in front of a
        cluster: its timeout is not known here, 5 s)."""
        return 5.0

    def symptom_lag_s(self) -> float:
        """How much later than on a fast service an outage's symptoms can show here, from the platform's own
        settings: a hung request is a 504 only after the load balancer's timeout, a replica is out of rotation only
        after its readiness probe failed ``failure_threshold`` times. Added to an experiment's symptom window."""
        return 0.0

    @abstractmethod
    def reachable(self) -> None:
        """Raise TargetError with one clear line when the target cannot be reached."""

    @abstractmethod
    def replicas(self) -> list[Replica]:
        """The replicas with phase, readiness and restarts (``kubectl get pods``)."""

    @abstractmethod
    def endpoints(self) -> list[Endpoint]:
        """The replicas the load balancer / Service knows, with readiness (``get endpoints``)."""

    @abstractmethod
    def load_balancer(self) -> LoadBalancer:
        """The load balancer / Service (``kubectl get svc``)."""

    @abstractmethod
    def history(self) -> list[Revision]:
        """Rollout history, oldest first (``kubectl rollout history``)."""

    @abstractmethod
    def events(self, limit: int = 20) -> list[Event]:
        """Recent events, oldest first, at most ``limit`` (``get events --sort-by``)."""

    def config_changes(self) -> list[ConfigChange]:
        """When the configuration (or what the replicas run) last changed, as the platform recorded it; a target
        that records nothing of the kind has none."""
        return []

    @abstractmethod
    def logs(self, replica: str | None = None, tail: int = 100) -> list[str]:
        """The last ``tail`` log lines of one replica, or of the deployment (all replicas)."""

    @abstractmethod
    def config(self) -> dict[str, str]:
        """The service's current configuration (the ConfigMap's data)."""

    @abstractmethod
    def dependency_states(self) -> list[DependencyState]:
        """Each dependency's process/workload state."""

    @abstractmethod
    def check_dependency(self, name: str, timeout: float = 2.0) -> DependencyCheck:
        """The runbook's step-3 check (pg_isready, redis-cli ping, Kafka ApiVersions)."""

    def status(self) -> Status:
        """A snapshot of everything."""
        return Status(
            target=self.name,
            base_url=self.base_url(),
            replicas=self.replicas(),
            endpoints=self.endpoints(),
            load_balancer=self.load_balancer(),
            dependencies=self.dependency_states(),
        )

    def current_revision(self) -> Revision | None:
        """The newest revision of the rollout history."""
        history = self.history()
        return history[-1] if history else None

    # --- actions (change the target) ---------------------------------------------------------
    @abstractmethod
    def terminate_replicas(self, names: list[str] | None = None) -> list[str]:
        """Kill replicas abruptly (SIGKILL / pod delete with no grace); return their names."""

    @abstractmethod
    def freeze_replicas(self, names: list[str] | None = None) -> list[str]:
        """Make replicas hang (they accept connections and never answer)."""

    @abstractmethod
    def thaw_replicas(self, names: list[str] | None = None) -> list[str]:
        """Undo :meth:`freeze_replicas`."""

    @abstractmethod
    def rollout_restart(self, wait: bool = True, timeout: float | None = None) -> Revision:
        """Rolling restart with the current configuration (``kubectl rollout restart``). ``timeout``: the whole
        rollout's deadline; None: the target's own, from the service (measured start times, a progress deadline)."""

    @abstractmethod
    def rollout_undo(self, to_revision: int | None = None, wait: bool = True,
                     timeout: float | None = None) -> Revision:
        """Back to the previous revision, or a given one (``kubectl rollout undo``)."""

    @abstractmethod
    def deploy(self, version: str, cause: str = "", wait: bool = True, timeout: float | None = None) -> Revision:
        """Roll out a release version (``kubectl set image``)."""

    @abstractmethod
    def apply_config(self, changes: dict[str, str], cause: str = "") -> dict[str, str]:
        """Change configuration without restarting; return the previous configuration."""

    @abstractmethod
    def replace_config(self, data: dict[str, str], cause: str = "") -> dict[str, str]:
        """Replace configuration wholesale (``kubectl apply -f previous-config.yaml``)."""

    @abstractmethod
    def stop_dependency(self, name: str) -> None:
        """Stop a dependency (process stopped / scaled to zero)."""

    @abstractmethod
    def start_dependency(self, name: str, wait: bool = True, timeout: float = 30.0) -> None:
        """Bring a dependency back."""

    @abstractmethod
    def hang_dependency(self, name: str) -> None:
        """Make a dependency hang instead of failing fast."""

    @abstractmethod
    def release_dependency(self, name: str) -> None:
        """Undo :meth:`hang_dependency`."""

    @abstractmethod
    def wait_healthy(self, timeout: float | None = None) -> bool:
        """Wait until every replica is ready and in the load balancer's rotation, and the service answers through
        it; False on timeout."""

    def start_replicas(self, names: list[str] | None = None) -> list[str]:
        """Bring back replicas that stopped or gave up; a Kubernetes controller does it by itself."""
        return []

    # --- network faults (a Toxiproxy-compatible fault proxy between the replicas and their dependencies) --------
    def add_toxic(self, dependency: str, toxic: dict[str, Any]) -> None:
        """Add a toxic (Toxiproxy's ``{name, type, stream, toxicity, attributes}``) to every connection of the
        replicas to ``dependency``, the open ones included."""
        raise NotApplicableError(f"network faults are not supported on the {self.name} target yet")

    def remove_toxic(self, dependency: str, name: str) -> None:
        """Remove a toxic added by :meth:`add_toxic`; one already gone is no error (undo is idempotent)."""
        raise NotApplicableError(f"network faults are not supported on the {self.name} target yet")

    def set_dependency_link(self, dependency: str, enabled: bool) -> None:
        """``enabled=False``: a partition (new connections refused, open ones closed); True undoes it."""
        raise NotApplicableError(f"network faults are not supported on the {self.name} target yet")

    def reset_network_faults(self) -> None:
        """Every link enabled, every toxic removed (Toxiproxy's ``POST /reset``): ``abort``/``halt``'s backstop."""
        raise NotApplicableError(f"network faults are not supported on the {self.name} target yet")

    # --- monitoring ----------------------------------------------------------------------------
    def prometheus_url(self) -> str | None:
        """Prometheus watching this target, when there is one."""
        return None

    def received_alerts_file(self) -> str | None:
        """Where gameday's Alertmanager receiver writes the alerts it got, when there is one."""
        return None

    # --- identity and fault parameters ---------------------------------------------------------
    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Enough to rebuild this target in another process (stored in the fault ledger)."""

    @abstractmethod
    def bad_release(self) -> str:
        """The known-bad release version to roll out for a failed deployment."""

    @abstractmethod
    def broken_config(self) -> dict[str, str]:
        """Configuration changes that break the service (a wrong database host)."""

    # --- descriptions for people -------------------------------------------------------------
    def command_for(self, action: str) -> str:
        """The command a person would type for a runbook action on this target."""
        return f"gameday {action}"

    # --- canary releases (gameday canary) ------------------------------------------------------------
    def canary(self) -> CanaryDriver:
        """A canary of a new release on this target: see :mod:`gameday.targets.canary`."""
        raise NotApplicableError(f"the {self.name} target does not run canaries")
