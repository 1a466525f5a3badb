"""The layers the code states (pyproject.toml, ``[tool.importlinter]``), and the house rules no import contract can
say: no import of gameday inside a function (one would hide a cycle from a reader, and from Python until the call),
``get_settings()`` only in the CLI layer, no module over 400 lines, no class over 25 methods.

Each test reads the source (``ast``) or runs ``lint-imports``: none imports gameday's modules, so each answers in
well under a second and names every offender (file, line, rule) rather than the first one.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gameday"

MAX_LINES = 400
MAX_METHODS = 25

KUBERNETES_CLIENT = "the kubernetes client library takes ~0.2 s to import, which no command on the local target pays"

# In-function imports of gameday that are lazy on purpose: (file, imported module) -> why. grimp, which import-linter
# builds its graph with, counts these too, so none of them can hide a cycle or a back-arrow from `make lint`.
LAZY_IMPORTS = {
    ("gameday/__main__.py", "gameday.cli"): "the Ctrl-C handler must be in place while the CLI's libraries import",
    ("gameday/__init__.py", "gameday.chaos"): "chaostoolkit's discovery hook: importing any gameday module imports the "
                                              "root package, which must not import the chaos extension",
    ("gameday/targets/__init__.py", "gameday.targets.kubernetes.target"): KUBERNETES_CLIENT,
    ("gameday/targets/__init__.py", "gameday.targets.kubernetes.ledger_store"): KUBERNETES_CLIENT,
    ("gameday/safety.py", "gameday.targets.kubernetes.client"): KUBERNETES_CLIENT,
}

# The CLI layer: where settings are read from the environment and the run context is built and handed down.
SETTINGS_READERS = {"gameday/cli.py", "gameday/profile_cli.py", "gameday/config.py", "gameday/context.py"}


@functools.cache
def sources() -> tuple[tuple[str, ast.Module, str], ...]:
    """Every module of the package: its path from the repository root, its tree, its text (read once)."""
    texts = {path.relative_to(ROOT).as_posix(): path.read_text() for path in sorted(PACKAGE.rglob("*.py"))}
    return tuple((rel, ast.parse(text, filename=rel), text) for rel, text in texts.items())


def module_name(rel: str) -> str:
    parts = rel.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(node: ast.Import | ast.ImportFrom, rel: str) -> list[str]:
    """The gameday modules an import statement names (relative imports resolved against ``rel``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "gameday"]
    if node.level:
        package = module_name(rel).split(".")
        if not rel.endswith("__init__.py"):
            package = package[:-1]
        base = package[: len(package) - node.level + 1]
        return [".".join([*base, *([node.module] if node.module else [])])]
    return [node.module] if node.module and node.module.split(".")[0] == "gameday" else []


@functools.cache
def in_function_imports() -> list[tuple[str, int, str]]:
    """(file, line, module) of every import of gameday inside a function body (each statement once)."""
    found: set[tuple[str, int, str]] = set()
    for rel, tree, _ in sources():
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(func):
                    if isinstance(node, ast.Import | ast.ImportFrom):
                        found.update((rel, node.lineno, name) for name in imported(node, rel))
    return sorted(found)


def test_no_gameday_import_inside_a_function() -> None:
    found = in_function_imports()
    offenders = [f"{rel}:{line}: imports {name} inside a function" for rel, line, name in found
                 if (rel, name) not in LAZY_IMPORTS]
    if offenders:
        pytest.fail("move these to the top of their module (break the cycle they hide):\n" + "\n".join(offenders))


def test_the_allowed_lazy_imports_are_still_there() -> None:
    """An allowance nobody needs any more is removed, so that it cannot quietly cover a new one."""
    used = {(rel, name) for rel, _, name in in_function_imports()}
    assert set(LAZY_IMPORTS) <= used, f"no longer lazy, drop from LAZY_IMPORTS: {sorted(set(LAZY_IMPORTS) - used)}"


def test_the_import_scan_sees_relative_and_nested_imports() -> None:
    """The scan above is what the rule rests on: it must see every spelling of an import."""
    tree = ast.parse("def f():\n    def g():\n        from . import ledger\n    import gameday.state\n"
                     "    from ..errors import UsageError\n")
    names = [name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
             for name in imported(node, "gameday/verify/smoke.py")]
    assert sorted(names) == ["gameday.errors", "gameday.state", "gameday.verify"]


def test_get_settings_only_in_the_cli_layer() -> None:
    offenders = []
    for rel, tree, _ in sources():
        if rel in SETTINGS_READERS or rel.endswith("/cli.py"):
            continue
        for node in ast.walk(tree):
            named = (node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
                     else None)
            aliases = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            if named == "get_settings" or "get_settings" in aliases:
                offenders.append(f"{rel}:{node.lineno}")
    if offenders:
        pytest.fail("get_settings() outside the CLI layer (take the settings, profile or target as a parameter, or "
                    "the run context):\n" + "\n".join(sorted(set(offenders))))


def test_no_module_over_400_lines() -> None:
    long = [f"{rel}: {n} lines" for rel, _, text in sources() if (n := len(text.splitlines())) > MAX_LINES]
    if long:
        pytest.fail(f"modules over {MAX_LINES} lines (cut by concept):\n" + "\n".join(long))


def test_no_class_over_25_methods() -> None:
    big = []
    for rel, tree, _ in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                methods = [f for f in node.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
                if len(methods) > MAX_METHODS:
                    big.append(f"{rel}:{node.lineno}: class {node.name} has {len(methods)} methods")
    if big:
        pytest.fail(f"classes over {MAX_METHODS} methods (cut by resource):\n" + "\n".join(big))


def test_the_layer_contracts_hold() -> None:
    """``make test`` enforces what ``make lint`` does: the layers, no cycle, the two targets apart."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    report = done.stdout[done.stdout.find("Contracts"):] if "Contracts" in done.stdout else done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(report)
