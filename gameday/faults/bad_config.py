"""bad-config: a broken configuration applied, and the replicas restarted onto it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from gameday.faults.base import Fault, Params
from gameday.verdict_keys import CONFIGURATION_PROBLEM

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target


class BadConfigParams(Params):
    """Which configuration keys to break."""

    changes: dict[str, str] | None = Field(
        None, min_length=1, description="configuration keys to change (default: the profile's bad_config)")


class BadConfig(Fault):
    """A wrong value (e.g. the database host) picked up at restart: every replica fails until the config is restored."""

    name = "bad-config"
    description = "apply a broken configuration (e.g. a wrong database host) and restart replicas"
    Params: ClassVar[type[BadConfigParams]] = BadConfigParams

    def not_applicable(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> str | None:
        if params.get("changes") or target_kind == "kubernetes" or (profile.local and profile.local.bad_config):
            return None
        return f"{profile.service.name} names no breaking configuration change (local.bad_config)"

    def outage(self, params: dict[str, Any], profile: Profile, replicas: list[str] | None = None) -> bool:
        return True

    def expected_verdict(self, params: dict[str, Any], profile: Profile, target_kind: str | None = None) -> str:
        return CONFIGURATION_PROBLEM

    def snapshot(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        return {"config": target.config()}

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        changes = params.get("changes") or target.broken_config()
        target.apply_config(changes, cause="gameday fault: bad configuration")
        target.terminate_replicas()

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        previous = saved.get("config")
        if previous is not None and target.config() != previous:
            target.replace_config(previous, cause="gameday undo: restore previous configuration")
            target.rollout_restart(wait=True)
        elif not target.wait_healthy():  # the target's own start budget (local: measured at up)
            target.rollout_restart(wait=True)
