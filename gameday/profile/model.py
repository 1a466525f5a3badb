"""The whole profile, and the cross-field checks that every name it uses exists."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, model_validator

from gameday.errors import UsageError
from gameday.profile.base import DEFAULT_PROFILE, PLACEHOLDER_HEADS, REQUEST_BUILTINS, StrictModel
from gameday.profile.dependency import Dependency
from gameday.profile.kubernetes import Kubernetes
from gameday.profile.local import Local
from gameday.profile.local_checks import local_problems
from gameday.profile.service import Alerts, Detection, Service, Slo, Verify
from gameday.profile.traffic import Endpoint, Journey, Load, MixEntry

DEFAULT_RUNBOOK = "service-outage"


class Profile(StrictModel):
    """The whole service profile."""

    service: Service = Field(description="the service itself")
    local: Local | None = Field(None, description="how the local target runs it")
    kubernetes: Kubernetes | None = Field(None, description="where it lives on a cluster")
    dependencies: list[Dependency] = Field(default_factory=list, description="what it needs")
    endpoints: list[Endpoint] = Field(min_length=1, description="endpoints checked by the gate and the probes")
    journeys: list[Journey] = Field(default_factory=list, description="user journeys with captures")
    load: Load = Field(default_factory=Load, description="the load mix")
    detection: Detection = Field(default_factory=Detection, description="what the game day probes")
    verify: Verify = Field(default_factory=Verify, description="how long the steady state may measure")
    slo: Slo = Field(default_factory=Slo, description="service level objectives")
    alerts: Alerts = Field(default_factory=Alerts, description="alert names")
    runbooks: list[str] = Field(
        default_factory=lambda: [DEFAULT_RUNBOOK], min_length=1,
        description="the runbook packages this service's game days follow; the first is the default "
        "(`runbook: NAME` is short for `runbooks: [NAME]`)")

    # where it was loaded from: relative paths in it are relative to this folder
    source: Path = Field(DEFAULT_PROFILE, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _one_runbook(cls, data: Any) -> Any:
        """``runbook: NAME``, the one-runbook form profiles were written in, is ``runbooks: [NAME]``."""
        if not isinstance(data, dict) or "runbook" not in data:
            return data
        if "runbooks" in data:
            raise ValueError("runbook: give runbook (one) or runbooks (a list), not both")
        data = dict(data)
        data["runbooks"] = [data.pop("runbook")]
        return data

    @property
    def runbook(self) -> str:
        """The runbook followed unless another is named (``--runbook``): the first of :attr:`runbooks`."""
        return self.runbooks[0]

    @cached_property
    def directory(self) -> Path:
        """The folder relative paths of the profile are taken from."""
        return self.source.parent

    def dependency(self, name: str) -> Dependency:
        """A dependency by name; :class:`UsageError` names the known ones."""
        for dep in self.dependencies:
            if dep.name == name:
                return dep
        known = ", ".join(d.name for d in self.dependencies) or "none"
        raise UsageError(f"unknown dependency {name!r} for {self.service.name}: expected one of {known}")

    def endpoint(self, name: str) -> Endpoint:
        """An endpoint by name."""
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        raise UsageError(f"unknown endpoint {name!r} for {self.service.name}")

    def journey(self, name: str) -> Journey:
        """A journey by name."""
        for j in self.journeys:
            if j.name == name:
                return j
        raise UsageError(f"unknown journey {name!r} for {self.service.name}")

    def critical(self) -> list[str]:
        """Dependencies whose outage is an outage of the service."""
        return [d.name for d in self.dependencies if d.on_outage == "outage"]

    def needs(self, item: Endpoint | Journey) -> list[str]:
        """The dependencies an endpoint or journey cannot work without."""
        return list(item.needs) if item.needs is not None else self.critical()

    def probe_endpoints(self) -> list[Endpoint]:
        """What the game day's prober requests, in order."""
        names = self.detection.probes or [e.name for e in self.endpoints]
        return [self.endpoint(n) for n in names]

    def mix(self) -> list[MixEntry]:
        """The load mix: the profile's, or every endpoint once."""
        return list(self.load.mix) or [MixEntry(endpoint=e.name) for e in self.endpoints]

    @model_validator(mode="after")
    def _cross_references(self) -> Profile:
        problems = list(cross_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self



# --- cross-field checks: every name a profile uses must exist ------------------------------------------
def cross_problems(p: Profile) -> Iterator[str]:
    dep_names = [d.name for d in p.dependencies]
    for dup in {n for n in dep_names if dep_names.count(n) > 1}:
        yield f"dependencies: {dup!r} is named twice"
    for i, name in enumerate(dep_names):
        if name in PLACEHOLDER_HEADS:
            yield f"dependencies[{i}].name: {name!r} is a placeholder's own name ({{{name}.*}}): rename the dependency"
    ep_names = [e.name for e in p.endpoints]
    for dup in {n for n in ep_names if ep_names.count(n) > 1}:
        yield f"endpoints: {dup!r} is named twice"
    journeys = {j.name for j in p.journeys}
    for field, items in (("endpoints", p.endpoints), ("journeys", p.journeys)):
        for i, item in enumerate(items):
            for need in item.needs or []:
                if need not in dep_names:
                    yield f"{field}[{i}].needs: {need!r} names no dependency (known: {', '.join(dep_names) or 'none'})"
    for i, dep in enumerate(p.dependencies):
        fallback = dep.promises.fallback if dep.promises is not None else None
        if fallback is not None and fallback.endpoint not in ep_names:
            yield f"dependencies[{i}].promises.fallback.endpoint: {fallback.endpoint!r} names no endpoint"
        if fallback is not None and dep.on_outage != "degraded":
            yield f"dependencies[{i}].promises.fallback: {dep.name} has on_outage {dep.on_outage}: no fallback answer"
    for i, entry in enumerate(p.load.mix):
        if entry.journey is not None and entry.journey not in journeys:
            yield f"load.mix[{i}].journey: {entry.journey!r} names no journey"
        if entry.endpoint is not None and entry.endpoint not in ep_names:
            yield f"load.mix[{i}].endpoint: {entry.endpoint!r} names no endpoint"
    for i, name in enumerate(p.detection.probes):
        if name not in ep_names:
            yield f"detection.probes[{i}]: {name!r} names no endpoint"
    if p.detection.setup is not None and p.detection.setup not in journeys:
        yield f"detection.setup: {p.detection.setup!r} names no journey"
    setup_captures = set()
    if p.detection.setup in journeys:
        setup_captures = {c for s in p.journey(p.detection.setup).steps for c in s.capture}
    for i, ep in enumerate(p.endpoints):
        for name in sorted(ep.placeholder_names()):
            if not _request_builtin(name) and name not in setup_captures:
                yield (f"endpoints[{i}] ({ep.name}): placeholder {{{name}}} is neither captured by detection.setup "
                       f"nor one of {', '.join(REQUEST_BUILTINS)}, env.NAME")
    for j, journey in enumerate(p.journeys):
        captured: set[str] = set()
        for s, step in enumerate(journey.steps):
            for name in sorted(step.placeholder_names()):
                if not _request_builtin(name) and name not in captured:
                    yield (f"journeys[{j}] ({journey.name}).steps[{s}]: placeholder {{{name}}} is not captured by "
                           "an earlier step")
            captured |= set(step.capture)
    yield from _file_problems(p)
    if p.local is not None:
        yield from local_problems(p.local, p.dependencies, p.directory)


def _file_problems(p: Profile) -> Iterator[str]:
    """What the profile names on disk must be there now: ``up`` and the game day would fail on it later, slowly.
    The runbooks it names are checked by the runbook layer (:func:`gameday.runbook.package.missing`), which the
    profile, the bottom layer, does not import."""
    if p.alerts.rules is not None:
        path = p.directory / p.alerts.rules
        try:
            rules = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            yield f"alerts.rules: cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
        except yaml.YAMLError as exc:
            yield f"alerts.rules: {path} is not YAML: {getattr(exc, 'problem', None) or exc}"
        else:
            if not isinstance(rules, dict) or not isinstance(rules.get("groups"), list):
                yield f"alerts.rules: {path} is not a Prometheus rules file (expected a mapping with groups: [...])"
    if p.local is not None and not (p.directory / p.local.working_dir).is_dir():
        yield f"local.working_dir: no directory {(p.directory / p.local.working_dir).resolve()}"


def _request_builtin(name: str) -> bool:
    return name in REQUEST_BUILTINS or (name.startswith("env.") and name.count(".") == 1)

