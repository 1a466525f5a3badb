"""The one target interface everything above the targets talks to.

A target is where the profile's service runs: the embedded local stack, or a Kubernetes
cluster. Targets know nothing of chaos, verdicts, reports or the CLI. The vocabulary is the
runbook's: replicas are pods, endpoints are the replicas the load balancer sends traffic to,
revisions are the rollout history. The interface is cut by resource (:mod:`gameday.targets.parts`), what its
operations return is :mod:`gameday.targets.model`'s: import those names from there.
"""

from __future__ import annotations

from gameday.targets.model import Status
from gameday.targets.parts import (
    TargetCanaries,
    TargetConfiguration,
    TargetDependencies,
    TargetNetwork,
    TargetReads,
    TargetReplicas,
    TargetRollouts,
)


class Target(TargetReads, TargetReplicas, TargetRollouts, TargetConfiguration, TargetDependencies, TargetNetwork,
             TargetCanaries):
    """The operations the runbook uses, on whatever runs the service: every part of :mod:`gameday.targets.parts`."""

    name: str = "target"

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
