"""bad-release: the known-bad release rolled out (a failed deployment)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from gameday.faults.base import Fault, Params, Version
from gameday.verdict_keys import FAILED_DEPLOYMENT

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target


class BadReleaseParams(Params):
    """Which release to roll out."""

    version: Version | None = Field(None, description="the bad version (default: the profile's known-bad release)")


class BadRelease(Fault):
    """Passes its probes, then crashes: every replica ends in a crash loop until ``rollout undo``. A service with no
    such release gets one from the local target's launcher (``local.bad_release.fail_after_ready_s``)."""

    name = "bad-release"
    description = "roll out the known-bad release (failed deployment)"
    Params: ClassVar[type[BadReleaseParams]] = BadReleaseParams

    def not_applicable(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> str | None:
        if params.get("version"):
            return None
        if target_kind == "kubernetes":
            return None if profile.kubernetes and profile.kubernetes.bad_image else \
                f"{profile.service.name} names no known-bad release (kubernetes.bad_image)"
        return None if profile.local and profile.local.bad_release else \
            f"{profile.service.name} names no known-bad release (local.bad_release)"

    def outage(self, params: dict[str, Any], profile: Profile, replicas: list[str] | None = None) -> bool:
        return True

    def expected_verdict(self, params: dict[str, Any], profile: Profile, target_kind: str | None = None) -> str:
        return FAILED_DEPLOYMENT

    def snapshot(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        current = target.current_revision()
        return {"version": current.version if current else None}

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        # the rollout's deadline is the target's: on the local one, the replicas' start times measured at up times
        # the replicas, capped by local.start_timeout_s (a fixed 30 s ran out on a service taking 15-18 s a replica)
        version = params.get("version") or target.bad_release()
        target.deploy(version, cause=f"gameday fault: bad release {version}", wait=True)

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        good = saved.get("version")
        current = target.current_revision()
        if good and current and current.version != good:
            matching = [r.number for r in target.history() if r.version == good]
            if matching:
                target.rollout_undo(to_revision=max(matching), wait=True)
            else:
                target.deploy(good, cause="gameday undo: restore release", wait=True)
        if not target.wait_healthy():  # the target's start budget: the undo's rollout waited already
            target.rollout_restart(wait=True)
