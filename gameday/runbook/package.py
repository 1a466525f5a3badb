"""Runbook packages: a runbook is a folder ``runbooks/<name>/``, found by name.

The folder holds the runbook's markdown (the team's text, unchanged), its coverage map, its experiments, and a
manifest ``runbook.yaml`` with everything of the runbook that can be data: the steady state every experiment starts
and ends in, the symptoms, the verification checklist, which resolution each diagnosis verdict takes, and the
escalation policy. The service profile names the runbook its game day follows (``runbook:``, default
``service-outage``). Packages are looked up in ``./runbooks`` first, then in the project's ``runbooks/``; a path to
a package folder works too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gameday.errors import UsageError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = "runbooks"
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
    """A runbook line (coverage-map id) and the gameday check that stands for it."""

    id: str
    check: str


class EscalationStep(_Model):
    """Who is told after how long an outage has lasted."""

    id: str
    after_minutes: float = Field(ge=0)
    who: str
    how: str = ""


class Manifest(_Model):
    """``runbook.yaml``: the runbook's data."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str
    severity: str = ""
    markdown: str = Field(description="the runbook's text, relative to the package")
    coverage: str = Field(description="its coverage map, relative to the package")
    experiments: str = Field("experiments", description="folder of its chaostoolkit experiments")
    steady_state: SteadyState
    symptoms: list[Item] = Field(default_factory=list)
    checklist: list[Item] = Field(default_factory=list)
    diagnosis: dict[str, str] = Field(default_factory=dict, description="verdict kind -> resolution line id")
    escalation: list[EscalationStep] = Field(default_factory=list)


@dataclass(frozen=True)
class RunbookPackage:
    """One runbook package on disk."""

    folder: Path
    manifest: Manifest

    @property
    def name(self) -> str:
        """The runbook's name (its folder's)."""
        return self.manifest.name

    @property
    def markdown(self) -> Path:
        """The runbook's text."""
        return self.folder / self.manifest.markdown

    @property
    def coverage(self) -> Path:
        """The coverage map of the runbook's lines."""
        return self.folder / self.manifest.coverage

    @property
    def experiments_dir(self) -> Path:
        """The folder of its experiments."""
        return self.folder / self.manifest.experiments

    def experiments(self) -> list[Path]:
        """Its experiment files, by name."""
        folder = self.experiments_dir
        return sorted(p for p in folder.iterdir() if p.suffix in EXPERIMENT_SUFFIXES and p.is_file())

    def experiment(self, name: str) -> Path | None:
        """One of its experiments by name (``all-pods-down``) or file name, or None."""
        return next((p for p in self.experiments() if name in (p.stem, p.name)), None)


def search_path(cwd: Path | None = None) -> list[Path]:
    """Where packages are looked up: ``./runbooks``, then the project's."""
    here = (cwd or Path.cwd()) / RUNBOOKS
    folders = [here, PROJECT_ROOT / RUNBOOKS]
    return [f for i, f in enumerate(folders) if f.is_dir() and f.resolve() not in [g.resolve() for g in folders[:i]]]


def available(cwd: Path | None = None) -> list[str]:
    """The names of the runbook packages found."""
    names = [p.name for folder in search_path(cwd) for p in sorted(folder.iterdir()) if (p / MANIFEST).is_file()]
    return list(dict.fromkeys(names))


def default_name() -> str:
    """The runbook the configured service profile follows."""
    from gameday.config import get_settings

    return get_settings().service.runbook


def find(name_or_path: str | Path | None = None, cwd: Path | None = None) -> RunbookPackage:
    """A package by name (default: the profile's runbook) or by folder; UsageError, one line, when there is none."""
    wanted = str(name_or_path) if name_or_path is not None else default_name()
    given = Path(wanted)
    if (given / MANIFEST).is_file():
        return load(given)
    for folder in search_path(cwd):
        if (folder / wanted / MANIFEST).is_file():
            return load(folder / wanted)
    raise UsageError(f"no runbook package {wanted!r}: expected a folder with {MANIFEST}, or one of: "
                     f"{', '.join(available(cwd)) or 'none found'}")


def load(folder: Path) -> RunbookPackage:
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
    package = RunbookPackage(folder, manifest)
    for what, file in (("markdown", package.markdown), ("coverage", package.coverage)):
        if not file.is_file():
            raise UsageError(f"{path}: {what}: no file {file}")
    if not package.experiments_dir.is_dir():
        raise UsageError(f"{path}: experiments: no folder {package.experiments_dir}")
    return package


def owning(file: Path) -> RunbookPackage | None:
    """The package a file (its markdown, an experiment) belongs to, or None."""
    if not Path(file).exists():
        return None
    for folder in Path(file).resolve().parents:
        if (folder / MANIFEST).is_file():
            return load(folder)
    return None
