"""Runbook packages: a runbook is a folder ``runbooks/<name>/``, found by name, loaded once into a :class:`Runbook`.

The folder holds the runbook's markdown (the team's text, unchanged), its coverage map, and a manifest
``runbook.yaml`` with everything of the runbook that can be data: the steady state every experiment starts and ends
in (and the steady-state hypothesis and rollbacks its experiments get unless they state their own), the symptoms,
the verification checklist, the resolution each diagnosis verdict takes, the escalation policy, the stakeholder
notice, and which alert its Detection pages on. The code reads these from the :class:`Runbook` (it keeps no copy),
so editing the manifest changes what gameday does. The runbook's other parts sit at the project's top level, by its
name, where chaostoolkit and pytest-bdd users look for them: ``experiments/<name>/`` and ``features/<name>/``. The
service profile names the runbooks its game day follows. Packages are looked up in ``./runbooks`` first, then in the
project's ``runbooks/``; a path to a package folder works too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gameday.alerts.rules import RunbookLink
from gameday.errors import UsageError
from gameday.notify.escalation import EscalationStep

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = "runbooks"
EXPERIMENTS = "experiments"
FEATURES = "features"
MANIFEST = "runbook.yaml"
EXPERIMENT_SUFFIXES = (".json", ".yaml", ".yml")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SteadyCheck(_Model):
    """One check of the steady state: a probe of ``gameday.chaos.probes`` that answers ``{"ok": ...}``."""

    name: str
    probe: str = Field(description="function name in gameday.chaos.probes")
    arguments: dict[str, Any] = Field(default_factory=dict)
    covers: str | None = Field(None, description="the runbook line id it checks (coverage map)")


class SteadyState(_Model):
    """The runbook's Verification as the steady-state hypothesis of its experiments."""

    title: str
    checks: list[SteadyCheck] = Field(min_length=1)


class Item(_Model):
    """A runbook line (coverage-map id, or None for a check the runbook implies) and the gameday check for it."""

    id: str | None
    check: str


class Step(_Model):
    """Who is told after how long an outage has lasted."""

    id: str
    after_minutes: float = Field(ge=0)
    who: str
    how: str = ""


class Notice(_Model):
    """The stakeholder notice the runbook's Resolution sends (its subject and text, as the runbook writes them)."""

    subject: str
    body: str


class Detection(_Model):
    """What the runbook's Detection names: which of the profile's alerts (``alerts.<key>``) pages."""

    paging_alert: Literal["endpoint_down", "error_ratio", "latency"] = "endpoint_down"


class Resolution(_Model):
    """The runbook's resolution for one diagnosis verdict: its line, how to find it in the text, what to do."""

    line: str = Field(description="the Resolution line id (coverage map)")
    kind: Literal["command", "note"] = Field(description="the kind of the runbook line that holds it")
    match: str = Field(description="text the line contains ({dependency}: a word naming the verdict's dependency)")
    block: bool = Field(False, description="the line's whole sub-section (its commands and notes), not one line")
    steps: list[str] = Field(default_factory=list,
                             description="what to do, in words ({dependency}: the dependency's name)")


class ExperimentDefaults(_Model):
    """What every experiment of the runbook gets unless it states its own, in chaostoolkit's form: the
    steady-state hypothesis and the rollbacks (``gameday.chaos.defaults`` fills them in, for ``chaos run`` too)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    steady_state_hypothesis: dict[str, Any] | None = Field(None, alias="steady-state-hypothesis")
    rollbacks: list[dict[str, Any]] | None = None


class Manifest(_Model):
    """``runbook.yaml``: the runbook's data."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str
    severity: str = ""
    markdown: str = Field(description="the runbook's text, relative to the package")
    coverage: str = Field(description="its coverage map, relative to the package")
    steady_state: SteadyState
    experiment_defaults: ExperimentDefaults = ExperimentDefaults()
    symptoms: list[Item] = Field(default_factory=list)
    checklist: list[Item] = Field(default_factory=list)
    diagnosis: dict[str, Resolution] = Field(default_factory=dict, description="verdict kind -> its resolution")
    escalation: list[Step] = Field(default_factory=list)
    notice: Notice
    detection: Detection = Detection()


@dataclass(frozen=True)
class Runbook:
    """One runbook package, loaded once: what gameday does for this runbook comes from here."""

    folder: Path
    manifest: Manifest
    cwd: Path | None = None  # where it was looked up from (its experiments and features are looked up there too)

    @property
    def name(self) -> str:
        """The runbook's name (its folder's)."""
        return self.manifest.name

    @property
    def title(self) -> str:
        """The runbook's title, as reports and notices name it."""
        return self.manifest.title

    @property
    def markdown(self) -> Path:
        """The runbook's text."""
        return self.folder / self.manifest.markdown

    @property
    def coverage(self) -> Path:
        """The coverage map of the runbook's lines."""
        return self.folder / self.manifest.coverage

    @property
    def experiment_defaults(self) -> ExperimentDefaults:
        """The steady-state hypothesis and rollbacks its experiments get unless they state their own."""
        return self.manifest.experiment_defaults

    @property
    def symptoms(self) -> tuple[str, ...]:
        """The Symptoms every outage shows (names of :mod:`gameday.symptoms`), in the runbook's order."""
        return tuple(s.check for s in self.manifest.symptoms)

    @property
    def checklist(self) -> tuple[str, ...]:
        """The Verification checklist's items (ids of :mod:`gameday.verify.checklist`), in the runbook's order."""
        return tuple(c.check for c in self.manifest.checklist)

    @cached_property
    def escalation(self) -> tuple[EscalationStep, ...]:
        """The Escalation policy: who is told after how long an outage has lasted."""
        return tuple(EscalationStep(s.after_minutes * 60, s.who, s.how) for s in self.manifest.escalation)

    @property
    def notice(self) -> Notice:
        """The stakeholder notice's subject and text."""
        return self.manifest.notice

    @property
    def paging_alert(self) -> str:
        """The profile key (``alerts.<key>``) of the alert the runbook's Detection pages on."""
        return self.manifest.detection.paging_alert

    def paging_alert_name(self, profile: Any) -> str:
        """That alert's name for a service (its profile's ``alerts``, e.g. ``APIEndpointDown``)."""
        return str(getattr(profile.alerts, self.paging_alert))

    def alert_link(self) -> RunbookLink:
        """What a service's alerts link to: the title, and the markdown relative to this source tree (as the
        rules shipped in it are read), else its absolute path (a team's runbook outside the tree)."""
        try:
            url = str(self.markdown.resolve().relative_to(PROJECT_ROOT))
        except ValueError:
            url = str(self.markdown)
        return RunbookLink(title=self.title, url=url)

    def resolution(self, verdict: str) -> Resolution | None:
        """The runbook's resolution for a diagnosis verdict kind, or None when it names none."""
        return self.manifest.diagnosis.get(verdict)

    def _top_level(self, kind: str) -> list[Path]:
        """Where this runbook's part ``kind`` (experiments, features) may be: by its name under the top-level
        folder of the user's working directory (as packages are looked up), the package's own project, then this
        project."""
        roots = [(self.cwd or Path.cwd()).resolve(), self.folder.resolve().parents[1], PROJECT_ROOT]
        return [root / kind / self.name for i, root in enumerate(roots) if root not in roots[:i]]

    @property
    def experiments_dir(self) -> Path:
        """The folder of its experiments: ``experiments/<name>/`` (the first that exists)."""
        folders = self._top_level(EXPERIMENTS)
        return next((f for f in folders if f.is_dir()), folders[0])

    @property
    def features_dir(self) -> Path:
        """The folder of its Gherkin features: ``features/<name>/`` (the first that exists)."""
        folders = self._top_level(FEATURES)
        return next((f for f in folders if f.is_dir()), folders[0])

    def experiments(self) -> list[Path]:
        """Its experiment files, by name."""
        folder = self.experiments_dir
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix in EXPERIMENT_SUFFIXES and p.is_file())

    def experiment(self, name: str) -> Path | None:
        """One of its experiments by name (``all-pods-down``) or file name, or None."""
        return next((p for p in self.experiments() if name in (p.stem, p.name)), None)


RunbookPackage = Runbook  # the name callers knew it by


def search_path(cwd: Path | None = None) -> list[Path]:
    """Where packages are looked up: ``./runbooks``, then the project's."""
    here = (cwd or Path.cwd()) / RUNBOOKS
    folders = [here, PROJECT_ROOT / RUNBOOKS]
    return [f for i, f in enumerate(folders) if f.is_dir() and f.resolve() not in [g.resolve() for g in folders[:i]]]


def available(cwd: Path | None = None) -> list[str]:
    """The names of the runbook packages found."""
    names = [p.name for folder in search_path(cwd) for p in sorted(folder.iterdir()) if (p / MANIFEST).is_file()]
    return list(dict.fromkeys(names))


def find(name_or_path: str | Path, cwd: Path | None = None) -> Runbook:
    """A package by name (the caller says which: e.g. the profile's runbook) or by folder; UsageError, one line,
    when there is none."""
    wanted = str(name_or_path)
    given = Path(wanted)
    if (given / MANIFEST).is_file():
        return load(given, cwd)
    for folder in search_path(cwd):
        if (folder / wanted / MANIFEST).is_file():
            return load(folder / wanted, cwd)
    raise UsageError(f"no runbook package {wanted!r}: expected a folder with {MANIFEST}, or one of: "
                     f"{', '.join(available(cwd)) or 'none found'}")


def missing(names: list[str], cwd: Path | None = None) -> list[str]:
    """One line per runbook a profile follows (``Profile.runbooks``) that cannot be found or loaded, naming its
    field: ``profile check`` and ``up`` refuse with them before anything starts. Here, not in the profile's own
    validation: the profile is the bottom layer and does not look packages up."""
    lines = []
    for i, name in enumerate(names):
        try:
            find(name, cwd)
        except UsageError as exc:
            lines.append(f"{'runbook' if len(names) == 1 else f'runbooks[{i}]'}: {exc}")
    return lines


def load(folder: Path, cwd: Path | None = None) -> Runbook:
    """Read and check a package's manifest and the files it names (one UsageError line per problem)."""
    path = folder / MANIFEST
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        manifest = Manifest.model_validate(data)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"{path}: {problems}") from None
    runbook = Runbook(folder, manifest, cwd)
    for what, file in (("markdown", runbook.markdown), ("coverage", runbook.coverage)):
        if not file.is_file():
            raise UsageError(f"{path}: {what}: no file {file}")
    if not runbook.experiments_dir.is_dir():
        raise UsageError(f"{path}: experiments: no folder {runbook.experiments_dir}")
    return runbook


def owning(file: Path) -> Runbook | None:
    """The package a file (its markdown, an experiment) belongs to, or None."""
    path = Path(file)
    if not path.exists():
        return None
    for folder in path.resolve().parents:
        if (folder / MANIFEST).is_file():
            return load(folder)
    parent = path.resolve().parent  # an experiment or feature: <root>/experiments/<name>/<file>
    package = parent.parents[1] / RUNBOOKS / parent.name if len(parent.parents) > 1 else None
    if parent.parent.name in (EXPERIMENTS, FEATURES) and package is not None and (package / MANIFEST).is_file():
        return load(package)
    return None
