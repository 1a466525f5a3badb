"""The target interface cut by resource, as chaostoolkit-kubernetes cuts its activities (``pod``, ``deployment``,
``node`` ...): what a target says about itself and its replicas, rollouts, configuration, dependencies, network and
canaries. :class:`gameday.targets.base.Target` composes them; each target implements them part by part (a mixin
per resource: ``targets/local/replicas.py``, ``targets/kubernetes/pods.py`` ...).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from gameday.targets.canary import CanaryDriver
from gameday.targets.model import (
    ConfigChange,
    DependencyAdmin,
    DependencyCheck,
    DependencyState,
    Endpoint,
    Event,
    LoadBalancer,
    NotApplicableError,
    Replica,
    Revision,
)


class TargetReads(ABC):
    """What a target is and what it shows: where it answers, its events, a snapshot of everything, and the
    parameters of its faults."""

    name: str = "target"

    @abstractmethod
    def base_url(self) -> str:
        """The load balancer's URL, e.g. ``http://127.0.0.1:8080``."""

    def answer_timeout_s(self) -> float:
        """How long a client waits for the service's answer through :meth:`base_url`: longer than the load
        balancer's own server timeout, so that a hang shows as its 504, as users see it (an ingress in front of a
        cluster: its timeout is not known here, 5 s)."""
        return 5.0

    def health_timeout_s(self) -> float:
        """How long a health check may go unanswered before it fails, as the platform's own probe judges it (a
        readiness probe's ``timeoutSeconds``; Kubernetes' default: 1 s)."""
        return 1.0

    def symptom_lag_s(self) -> float:
        """How much later than on a fast service an outage's symptoms can show here, from the platform's own
        settings: a hung request is a 504 only after the load balancer's timeout, a replica is out of rotation only
        after its readiness probe failed ``failure_threshold`` times. Added to an experiment's symptom window."""
        return 0.0

    @abstractmethod
    def reachable(self) -> None:
        """Raise TargetError with one clear line when the target cannot be reached."""

    @abstractmethod
    def events(self, limit: int = 20) -> list[Event]:
        """Recent events, oldest first, at most ``limit`` (``get events --sort-by``)."""

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


class TargetReplicas(ABC):
    """The replicas (pods), the load balancer (Service) in front of them, and their health."""

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
    def logs(self, replica: str | None = None, tail: int = 100) -> list[str]:
        """The last ``tail`` log lines of one replica, or of the deployment (all replicas)."""

    @abstractmethod
    def terminate_replicas(self, names: list[str] | None = None) -> list[str]:
        """Kill replicas abruptly (SIGKILL / pod delete with no grace); return their names."""

    @abstractmethod
    def freeze_replicas(self, names: list[str] | None = None) -> list[str]:
        """Make replicas hang (they accept connections and never answer)."""

    @abstractmethod
    def thaw_replicas(self, names: list[str] | None = None) -> list[str]:
        """Undo :meth:`freeze_replicas`."""

    def start_replicas(self, names: list[str] | None = None) -> list[str]:
        """Bring back replicas that stopped or gave up; a Kubernetes controller does it by itself."""
        return []

    @abstractmethod
    def wait_healthy(self, timeout: float | None = None) -> bool:
        """Wait until every replica is ready and in the load balancer's rotation, and the service answers through
        it; False on timeout."""


class TargetRollouts(ABC):
    """The rollout history and what changes it (``kubectl rollout``, ``kubectl set image``)."""

    @abstractmethod
    def history(self) -> list[Revision]:
        """Rollout history, oldest first (``kubectl rollout history``)."""

    def current_revision(self) -> Revision | None:
        """The newest revision of the rollout history."""
        history = self.history()
        return history[-1] if history else None

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


class TargetConfiguration(ABC):
    """The service's configuration (the ConfigMap) and when it changed."""

    @abstractmethod
    def config(self) -> dict[str, str]:
        """The service's current configuration (the ConfigMap's data)."""

    def config_changes(self) -> list[ConfigChange]:
        """When the configuration (or what the replicas run) last changed, as the platform recorded it; a target
        that records nothing of the kind has none."""
        return []

    @abstractmethod
    def apply_config(self, changes: dict[str, str], cause: str = "") -> dict[str, str]:
        """Change configuration without restarting; return the previous configuration."""

    @abstractmethod
    def replace_config(self, data: dict[str, str], cause: str = "") -> dict[str, str]:
        """Replace configuration wholesale (``kubectl apply -f previous-config.yaml``)."""


class TargetDependencies(ABC):
    """The service's dependencies (PostgreSQL, Redis, a broker ...): their state, the runbook's check, and faults."""

    @abstractmethod
    def dependency_states(self) -> list[DependencyState]:
        """Each dependency's process/workload state."""

    @abstractmethod
    def check_dependency(self, name: str, timeout: float | None = None) -> DependencyCheck:
        """The runbook's step-3 check (pg_isready, redis-cli ping, Kafka ApiVersions), waiting ``timeout`` seconds
        for an answer (default: the profile's ``check_timeout_s`` for it)."""

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

    def dependency_admin(self, name: str) -> DependencyAdmin:
        """A superuser session to a dependency this target runs, for a fault that changes the server itself (a
        runbook's PostgreSQL-session faults); NotApplicableError, with the reason, where the target offers none."""
        raise NotApplicableError(f"this target opens no superuser session to {name}")


class TargetNetwork:
    """Network faults: a Toxiproxy-compatible fault proxy between the replicas and their dependencies."""

    name: str = "target"

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


class TargetCanaries:
    """Canary releases (``gameday canary``)."""

    name: str = "target"

    def canary(self) -> CanaryDriver:
        """A canary of a new release on this target: see :mod:`gameday.targets.canary`."""
        raise NotApplicableError(f"the {self.name} target does not run canaries")
