"""The targets are cut by resource: each a composition of parts, small ones, and neither imports the other."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from gameday.targets.base import Target
from gameday.targets.kubernetes.target import KubernetesTarget
from gameday.targets.local.target import LocalTarget

TARGETS = Path(__file__).resolve().parents[1] / "gameday" / "targets"
MAX_METHODS = 25


def imported(path: Path) -> set[str]:
    """The modules a file imports, at the top or anywhere else (TYPE_CHECKING blocks included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


@pytest.mark.parametrize(("own", "other"), [("local", "kubernetes"), ("kubernetes", "local")])
def test_no_target_imports_the_other(own: str, other: str) -> None:
    hits = [f"{path.relative_to(TARGETS)}: {name}" for path in sorted((TARGETS / own).rglob("*.py"))
            for name in sorted(imported(path)) if name.startswith(f"gameday.targets.{other}")]
    assert not hits


@pytest.mark.parametrize("target", [LocalTarget, KubernetesTarget], ids=lambda t: t.__name__)
def test_a_target_is_its_parts(target: type[Target]) -> None:
    """Every operation of the interface is implemented by a part; no class of the target is over the size limit, and
    the target class itself only composes (its status aside)."""
    assert not target.__abstractmethods__
    parts = [c for c in target.__mro__ if c.__module__.startswith(target.__module__.rsplit(".", 1)[0])]
    assert len(parts) >= 7  # the core, replicas, rollouts, configuration, dependencies, network, canary
    for part in [*parts, *Target.__mro__]:
        methods = [name for name, value in vars(part).items() if inspect.isfunction(value)
                   or isinstance(value, property | staticmethod | classmethod)]
        assert len(methods) <= MAX_METHODS, (part.__name__, len(methods))


def test_no_target_module_is_over_400_lines() -> None:
    lines = {str(p.relative_to(TARGETS)): len(p.read_text().splitlines()) for p in TARGETS.rglob("*.py")}
    assert not {path: n for path, n in lines.items() if n > 400}
