"""hang-dependency: a dependency hangs (SIGSTOP / egress denied) instead of failing fast.

:class:`Hangs` is what it shares with ``dependency-blackhole`` (the same failure made on the network path instead
of on the dependency): connections accepted, or their packets dropped, and never answered, so only timeouts find
it and the diagnosis should name the dependency as hanging.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gameday.faults.base import DependencyFault

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target


class Hangs:
    """A fault that makes a dependency hang: ``dependency-hang:<dep>`` for one the service cannot work without,
    ``dependency-degraded:<dep>`` for one it survives."""

    def hangs(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> bool:
        return True


class HangDependency(Hangs, DependencyFault):
    """Connections are accepted and never answered: only timeouts find it."""

    name = "hang-dependency"
    description = "make one of the service's dependencies hang"

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.hang_dependency(params["dependency"])

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.release_dependency(params["dependency"])
