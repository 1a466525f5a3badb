"""The runbook packages' own Python: ``runbooks/<name>/`` may be a Python package, importable as
``gameday.runbooks.<name_with_underscores>``, and found the way :mod:`gameday.faults` finds its faults.

A runbook package is found by its name (``runbooks/<name>/`` with its ``runbook.yaml``, in ``./runbooks`` first,
then the project's, as :mod:`gameday.runbook.package` looks them up). When it also holds an ``__init__.py``, it
carries code of its own, by part: ``faults`` (a module or a folder of them: each fault registers itself, as in
``gameday/faults/``), ``diagnosis`` (``decide(evidence, profile) -> Verdict | None``, run before the generic rules)
and ``actions`` (chaostoolkit actions its experiments name as ``gameday.runbooks.<name>.actions``); its
``__init__`` lists the verdict kinds its diagnosis decides (``VERDICT_KINDS``, read by
:func:`gameday.verdict_keys.registered`). So adding a runbook touches only the folders named after it.

Folder names carry hyphens (``database-connection-issues``), which no import statement can spell, so a small
meta-path finder maps ``gameday.runbooks.database_connection_issues`` to that folder; its modules are then found
the ordinary way, in the package's folder. This module sits at the bottom of the layers: it imports nothing of
gameday's but the errors, and the layers above (the faults, the diagnosis, the chaos extension) ask it for the
packages by part at run time, so no layer imports one above it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import pkgutil
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

from gameday.errors import UsageError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = "runbooks"
MANIFEST = "runbook.yaml"
INIT = "__init__.py"


def module_name(folder_name: str) -> str:
    """The package's module name: ``database-connection-issues`` -> ``gameday.runbooks.database_connection_issues``."""
    return f"{__name__}.{folder_name.replace('-', '_')}"


def roots(cwd: Path | None = None) -> list[Path]:
    """Where packages are looked up: ``./runbooks``, then the project's (each once)."""
    folders = [(cwd or Path.cwd()) / RUNBOOKS, PROJECT_ROOT / RUNBOOKS]
    out: list[Path] = []
    for folder in folders:
        if folder.is_dir() and folder.resolve() not in [f.resolve() for f in out]:
            out.append(folder)
    return out


def folders(cwd: Path | None = None) -> dict[str, Path]:
    """module name -> folder of every runbook package that carries Python (the first found by each name)."""
    return dict(_scan((cwd or Path.cwd()).resolve()))


@functools.lru_cache(maxsize=16)
def _scan(cwd: Path) -> tuple[tuple[str, Path], ...]:
    """The packages seen from ``cwd``, scanned once per working directory: the verdict kinds and the finder ask on
    every lookup, and the folders do not change under a run."""
    found: dict[str, Path] = {}
    for root in roots(cwd):
        for folder in sorted(root.iterdir()):
            if (folder / MANIFEST).is_file() and (folder / INIT).is_file():
                found.setdefault(module_name(folder.name), folder)
    return tuple(found.items())


class RunbookFinder(importlib.abc.MetaPathFinder):
    """Finds ``gameday.runbooks.<name>`` in the runbook package folders (their submodules: the package's own
    ``__path__``, as for any package)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        prefix, _, rest = fullname.rpartition(".")
        if prefix != __name__ or not rest:
            return None
        folder = folders().get(fullname)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(fullname, folder / INIT,
                                                      submodule_search_locations=[str(folder)])


def _install() -> None:
    """Put the finder on ``sys.meta_path`` once (a reload does not add a second)."""
    if not any(type(f).__name__ == RunbookFinder.__name__ and type(f).__module__ == __name__ for f in sys.meta_path):
        sys.meta_path.append(RunbookFinder())


_install()


def _import(name: str, folder: Path) -> ModuleType:
    """Import one module of a runbook package; a package whose code does not import is one clear line."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise UsageError(f"runbook package {folder}: cannot import {name}: {exc}") from exc


def discover() -> dict[str, ModuleType]:
    """Every runbook package that carries Python, imported (module name -> module), so that the layers above can
    read what each declares (its ``VERDICT_KINDS``)."""
    return {name: _import(name, folder) for name, folder in folders().items()}


def modules(part: str) -> list[ModuleType]:
    """Every package's module ``part`` (``faults``, ``diagnosis``, ``actions``), imported, in the packages' order;
    a part that is a folder is imported whole (each module of it, as ``gameday/faults/`` is). A package without
    that part is left out."""
    return list(_modules(part, Path.cwd().resolve()))


@functools.lru_cache(maxsize=16)
def _modules(part: str, cwd: Path) -> tuple[ModuleType, ...]:
    """:func:`modules`, imported once per part and working directory (a failed import is not kept: it is raised
    again on the next call)."""
    found: list[ModuleType] = []
    for name, package in discover().items():
        folder = Path(package.__file__ or "").parent
        if importlib.util.find_spec(f"{name}.{part}") is None:
            continue
        module = _import(f"{name}.{part}", folder)
        found.append(module)
        for sub in pkgutil.iter_modules(getattr(module, "__path__", [])):
            if not sub.name.startswith("_"):
                found.append(_import(f"{module.__name__}.{sub.name}", folder))
    return tuple(found)
