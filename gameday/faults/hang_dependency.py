"""hang-dependency: a dependency hangs (SIGSTOP / egress denied) instead of failing fast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gameday.faults.base import DependencyFault

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target


class HangDependency(DependencyFault):
    """Connections are accepted and never answered: only timeouts find it."""

    name = "hang-dependency"
    description = "make one of the service's dependencies hang"

    def expected_verdict(self, params: dict[str, Any], profile: Profile) -> str:
        from gameday.diagnose.rules import dependency_verdict

        return dependency_verdict(profile, params["dependency"], hung=True)

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.hang_dependency(params["dependency"])

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.release_dependency(params["dependency"])
