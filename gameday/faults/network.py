"""The network faults' common part: a toxic (or a cut link) on the fault proxy between the replicas and one
dependency.

Each network fault is its own module (``dependency_latency``, ``dependency_blackhole``, ...) stating only what is
its own: the parameters it adds to ``dependency`` (a nested ``Params(NetworkParams)``), the toxic's type and
stream, and how its parameters become the toxic's attributes and toxicity. The target applies the toxic
(:meth:`~gameday.targets.base.Target.add_toxic`; the local target through its fault proxy, Toxiproxy's API); it is
named after the fault, so the undo removes exactly it and finds nothing to do when it is already gone. Unlike
stop/hang-dependency, any dependency of the profile can take one, external ones too: the replicas reach every
dependency through the proxy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from gameday.faults.base import Fault, FaultContext, Params
from gameday.verdict_keys import DEPENDENCY_DEGRADED, NO_OUTAGE, dependency_verdict

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target


class NetworkParams(Params):
    """The dependency whose connections the fault acts on: any of the profile's."""

    dependency: str = Field(description="a dependency of the service profile (e.g. postgres)")

    @field_validator("dependency")
    @classmethod
    def _known(cls, name: str, info: ValidationInfo) -> str:
        ctx = info.context if isinstance(info.context, FaultContext) else FaultContext()
        if ctx.profile is not None:
            names = [d.name for d in ctx.profile.dependencies]
            if name not in names:
                raise ValueError(f"{ctx.profile.service.name} has no dependency {name!r}: expected one of "
                                 f"{', '.join(names) or 'none'}")
        return name


class NetworkFault(Fault):
    """A toxic on every connection of the replicas to one dependency; a fault that leaves the service serving
    (slower, or with some errors) unless a subclass says it cuts the dependency off."""

    Params: ClassVar[type[Params]] = NetworkParams
    toxic_type: ClassVar[str]  # Toxiproxy's toxic type: latency, timeout, reset_peer, bandwidth ...
    stream: ClassVar[str] = "upstream"  # upstream: what the replicas send; downstream: what the dependency answers

    def attributes(self, params: dict[str, Any]) -> dict[str, Any]:
        """The toxic's attributes, from the fault's parameters."""
        return {}

    def toxicity(self, params: dict[str, Any]) -> float:
        """The share of connections the toxic acts on."""
        return 1.0

    def toxic(self, params: dict[str, Any]) -> dict[str, Any]:
        """The toxic (Toxiproxy's JSON) this fault adds."""
        return {"type": self.toxic_type, "stream": self.stream, "toxicity": self.toxicity(params),
                "attributes": self.attributes(params)}

    def toxic_name(self) -> str:
        return f"gameday-{self.name}"

    def not_applicable(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> str | None:
        name = params.get("dependency")
        if isinstance(name, str) and name not in [d.name for d in profile.dependencies]:
            return f"{profile.service.name} has no {name} dependency"
        # on a cluster it needs Chaos Mesh or the profile's Toxiproxy: a question for the cluster the run's settings
        # name, asked where they are (gameday.chaos.lint.not_applicable)
        return None

    def outage(self, params: dict[str, Any], profile: Profile, replicas: list[str] | None = None) -> bool:
        return False

    def expected_verdict(self, params: dict[str, Any], profile: Profile, target_kind: str | None = None) -> str:
        return NO_OUTAGE

    def also_accepted(self, params: dict[str, Any], profile: Profile,
                      target_kind: str | None = None) -> tuple[str, ...]:
        """Besides no outage, the dependency named as degrading the service: a slower or flaky dependency that tips
        some of the service's calls past their timeouts (a replica's readiness, a request of several round trips)
        impacts it, and the diagnosis that names it is right."""
        return (f"{DEPENDENCY_DEGRADED}:{profile.dependency(params['dependency']).name}",)

    def inject(self, target: Target, params: dict[str, Any]) -> None:
        target.add_toxic(params["dependency"], {"name": self.toxic_name(), **self.toxic(params)})

    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        target.remove_toxic(params["dependency"], self.toxic_name())


class CutFault(NetworkFault):
    """A fault that cuts the dependency off: an outage or degraded as the profile's ``on_outage`` says."""

    def outage(self, params: dict[str, Any], profile: Profile, replicas: list[str] | None = None) -> bool:
        return profile.dependency(params["dependency"]).on_outage == "outage"

    def hangs(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> bool:
        """Whether the cut is seen as a hang (packets dropped) rather than a refusal."""
        return False

    def expected_verdict(self, params: dict[str, Any], profile: Profile, target_kind: str | None = None) -> str:
        return dependency_verdict(profile, params["dependency"], hung=self.hangs(params, profile, target_kind))
