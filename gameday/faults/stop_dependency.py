"""stop-dependency: a dependency of the profile stopped (process stopped / scaled to zero)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gameday.faults.base import DependencyFault

if TYPE_CHECKING:
    from gameday.targets.base import Target


class StopDependency(DependencyFault):
    """Fails fast: connections are refused. Outage or degraded as the profile's ``on_outage`` says."""

    name = "stop-dependency"
    description = "stop one of the service's dependencies (e.g. PostgreSQL, Redis, Kafka)"

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.stop_dependency(params["dependency"])

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.start_dependency(params["dependency"], wait=True)
