"""The fault interface: a name, a description, a typed parameter schema, what it does to the service, inject/undo.

Every fault is a subclass of :class:`Fault` in its own module of this package; defining the class registers it
(:data:`FAULTS`), and the package imports every module it holds, the way krkn finds its scenario plugins. A fault
made of existing target operations is therefore one new module here, plus the experiment that uses it.

Parameters are a pydantic model, checked before anything is written to the ledger: first on their own (types,
shapes, names that cannot be a replica), then against the service profile (the dependency must be one of the
profile's, one the target can act on) and, when the target is known, against the target (replicas that exist).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from gameday.errors import UsageError
from gameday.verdict_keys import dependency_verdict

if TYPE_CHECKING:
    from gameday.profile import Profile
    from gameday.targets.base import Target

FAULTS: dict[str, Fault] = {}

REPLICA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


@dataclass(frozen=True)
class FaultContext:
    """What parameters are checked against: the profile, the kind of target, and the target's replicas."""

    profile: Profile | None = None
    target_kind: str | None = None  # "local" or "kubernetes"
    replicas: list[str] | None = None  # names of the target's replicas, when it was asked

    @classmethod
    def of(cls, profile: Profile | None, target: Target | None = None) -> FaultContext:
        """The context for ``target`` (its kind and replicas, read now) and ``profile``."""
        if target is None:
            return cls(profile)
        return cls(profile, str(target.identity().get("kind")), [r.name for r in target.replicas()])


def actionable_dependencies(profile: Profile, target_kind: str | None) -> list[str]:
    """The profile's dependencies this kind of target can stop, start and hang.

    Local: those it runs itself (no ``address``). Kubernetes: those with a workload in ``kubernetes.workloads``.
    Unknown target kind: every dependency.
    """
    if target_kind == "local":
        return [d.name for d in profile.dependencies if d.provided]
    if target_kind == "kubernetes":
        workloads = profile.kubernetes.workloads if profile.kubernetes else {}
        return [d.name for d in profile.dependencies if d.name in workloads]
    return [d.name for d in profile.dependencies]


def _context(info: ValidationInfo) -> FaultContext:
    return info.context if isinstance(info.context, FaultContext) else FaultContext()


def _replica_list(value: Any) -> Any:
    """A comma-separated string (from the command line) as a list of names."""
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    return value


def _number_as_text(value: Any) -> Any:
    """``-p version=2`` arrives as the JSON number 2: a number is a version's text; a mapping or list is not."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class Params(BaseModel):
    """A fault's parameters: unknown ones refused, every one typed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplicaParams(Params):
    """Faults on replicas: all of them by default, or the named ones (which must exist)."""

    replicas: Annotated[list[str] | None, BeforeValidator(_replica_list)] = Field(
        None, min_length=1, description="replica names (default: every replica); a list or a comma-separated string")

    @field_validator("replicas")
    @classmethod
    def _existing(cls, names: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if names is None:
            return None
        for name in names:
            if not REPLICA_NAME.match(name):
                raise ValueError(f"{name!r} is not a replica name")
        known = _context(info).replicas
        if known is not None:
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ValueError(f"no replica {unknown[0]!r}: expected one of {', '.join(known) or 'none running'}")
        return names


class DependencyParams(Params):
    """Faults on one dependency of the profile, which the target must be able to act on."""

    dependency: str = Field(description="a dependency of the service profile (e.g. postgres)")

    @field_validator("dependency")
    @classmethod
    def _known(cls, name: str, info: ValidationInfo) -> str:
        ctx = _context(info)
        if ctx.profile is None:
            return name
        names = [d.name for d in ctx.profile.dependencies]
        if name not in names:
            raise ValueError(f"{ctx.profile.service.name} has no dependency {name!r}: expected one of "
                             f"{', '.join(names) or 'none'}")
        actionable = actionable_dependencies(ctx.profile, ctx.target_kind)
        if name not in actionable:
            raise ValueError(f"the {ctx.target_kind} target cannot act on {name!r} (external); it can on: "
                             f"{', '.join(actionable) or 'none'}")
        return name


# a release version: text like 1.5.0-broken (a number is taken as text; a mapping or a list is refused)
Version = Annotated[str, BeforeValidator(_number_as_text),
                    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")]


class Fault(ABC):
    """A named way of breaking the target, with its typed parameters, what it should do, and its exact undo."""

    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[Params]] = Params

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            if cls.name in FAULTS:
                raise TypeError(f"fault {cls.name!r} registered twice ({type(FAULTS[cls.name]).__module__}, "
                                f"{cls.__module__})")
            FAULTS[cls.name] = cls()

    # --- parameters ----------------------------------------------------------------------------------
    def validate(self, params: dict[str, Any], profile: Profile | None = None,
                 target: Target | None = None, context: FaultContext | None = None) -> dict[str, Any]:
        """The parameters checked and normalised (defaults filled in); UsageError, one line, when they are bad.

        Without a profile only types and shapes are checked (experiment lint); with a profile the dependency must
        be one of its dependencies that the target can act on; with a target the named replicas must exist.
        """
        if not isinstance(params, dict):
            raise UsageError(f"fault {self.name}: parameters must be a mapping, got {type(params).__name__}")
        ctx = context or FaultContext.of(profile, target)
        try:
            model = self.Params.model_validate(params, context=ctx)
        except ValidationError as exc:
            raise UsageError(f"fault {self.name}: {_problems(exc, self.Params, ctx)}") from None
        return model.model_dump(exclude_none=True)

    def parameters(self) -> dict[str, str]:
        """Parameter -> meaning (for help texts)."""
        return {k: f.description or "" for k, f in self.Params.model_fields.items()}

    def describe(self) -> dict[str, Any]:
        """The fault as ``gameday faults`` and ``gameday inject --help`` list it: its name, what it does, and each
        parameter with its type, whether it is required, its default and its meaning (from its schema: the one
        place a parameter is declared)."""
        schema = self.Params.model_json_schema()
        params = []
        for key, field in self.Params.model_fields.items():
            prop = schema.get("properties", {}).get(key, {})
            params.append({"name": key, "type": _type_of(prop), "required": field.is_required(),
                           "default": None if field.is_required() else field.get_default(call_default_factory=True),
                           "description": field.description or ""})
        return {"name": self.name, "description": self.description, "parameters": params}

    # --- what it should do to the service -----------------------------------------------------------
    def not_applicable(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> str | None:
        """Why this fault cannot be tried on this service and target (the experiment is skipped), or None."""
        return None

    @abstractmethod
    def outage(self, params: dict[str, Any], profile: Profile, replicas: list[str] | None = None) -> bool:
        """Whether users see an outage (True) or the service keeps serving, degraded (False)."""

    def pages(self, params: dict[str, Any], profile: Profile, replicas: list[str] | None = None) -> bool:
        """Whether the service's endpoint-down alert (its profile's ``alerts.endpoint_down``) must fire: an outage
        (:meth:`outage`) that lasts past the alert's ``for:``. A fault whose outage can be a blip the alert rides
        out says when it is not."""
        return self.outage(params, profile, replicas)

    @abstractmethod
    def expected_verdict(self, params: dict[str, Any], profile: Profile, target_kind: str | None = None) -> str:
        """The diagnosis verdict key this fault should get (see gameday.verdict_keys) on ``target_kind``: the
        same change can look different from the service's side on each target (refused here, dropped there)."""

    def also_accepted(self, params: dict[str, Any], profile: Profile,
                      target_kind: str | None = None) -> tuple[str, ...]:
        """Verdicts besides :meth:`expected_verdict` that name this fault rightly: a partial fault may or may not
        tip the service over, depending on its timeouts and its load, and either outcome, diagnosed, is right."""
        return ()

    # --- the change ----------------------------------------------------------------------------------
    def snapshot(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        """What the undo will need, read before anything changes."""
        return {}

    @abstractmethod
    def inject(self, target: Target, params: dict[str, Any]) -> None:
        """Break the target."""

    @abstractmethod
    def undo(self, target: Target, params: dict[str, Any], saved: dict[str, Any]) -> None:
        """Put the target back, whatever state it is in."""


class ReplicaFault(Fault):
    """A fault on the service's replicas: an outage when it hits every one of them."""

    Params: ClassVar[type[Params]] = ReplicaParams

    def outage(self, params: dict[str, Any], profile: Profile, replicas: list[str] | None = None) -> bool:
        named = params.get("replicas")
        return not named or (replicas is not None and set(replicas) <= set(named))


class DependencyFault(Fault):
    """A fault on one dependency: an outage or degraded as the profile's ``on_outage`` says."""

    Params: ClassVar[type[Params]] = DependencyParams

    def not_applicable(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> str | None:
        name = params.get("dependency")
        if not isinstance(name, str):
            return None  # a bad parameter: refused by validate, not skipped
        if name not in [d.name for d in profile.dependencies]:
            return f"{profile.service.name} has no {name} dependency"
        if name not in actionable_dependencies(profile, target_kind):
            return f"{name} is external to the {target_kind} target: it cannot stop or hang it"
        return None

    def outage(self, params: dict[str, Any], profile: Profile, replicas: list[str] | None = None) -> bool:
        return profile.dependency(params["dependency"]).on_outage == "outage"

    def hangs(self, params: dict[str, Any], profile: Profile, target_kind: str | None) -> bool:
        """Whether the service's side sees the dependency hang (its packets dropped, connections never answered)
        rather than refuse: what the diagnosis should name."""
        return False

    def expected_verdict(self, params: dict[str, Any], profile: Profile, target_kind: str | None = None) -> str:
        return dependency_verdict(profile, params["dependency"], hung=self.hangs(params, profile, target_kind))


def _type_of(prop: dict[str, Any]) -> str:
    """A JSON Schema property's type for people: ``integer``, ``array of string``, ``string | null`` -> ``string``."""
    if "anyOf" in prop:
        kinds = [_type_of(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return " | ".join(dict.fromkeys(kinds)) or "null"
    kind = str(prop.get("type", "any"))
    if kind == "array":
        return f"array of {_type_of(prop.get('items', {}))}"
    return kind


def _problems(exc: ValidationError, model: type[BaseModel], ctx: FaultContext) -> str:
    """A validation error as one line: each problem with its parameter and what was expected."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "parameters"
        field_name = str(err["loc"][0]) if err["loc"] else ""
        info = model.model_fields.get(field_name)
        if err["type"] == "missing":
            what = info.description if info else "give it"
            if field_name == "dependency" and ctx.profile is not None:
                what = f"one of {', '.join(actionable_dependencies(ctx.profile, ctx.target_kind)) or 'none'}"
            parts.append(f"{loc} is required: {what} (-p {loc}=NAME)")
        elif err["type"] == "extra_forbidden":
            known = ", ".join(model.model_fields) or "none"
            parts.append(f"unknown parameter {loc!r}: expected {known}")
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            parts.append(f"{loc}: {message} (got {err['input']!r})")
    return "; ".join(parts)
