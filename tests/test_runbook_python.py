"""A runbook package's own Python (``runbooks/<name>/``, importable as ``gameday.runbooks.<name>``): found by name,
its faults registered with the others, its verdict kinds known to the diagnosis, its rules run before the generic
ones, and each part held to the layer of what it extends (import-linter sees only ``gameday/``, so this test does
for the packages what the contracts do for the package). No stack.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from gameday import faults, runbooks
from gameday.diagnose.diagnosis import decide_all, runbook_rules
from gameday.diagnose.verdicts import ACTIONS, KINDS, TITLES, make_verdict
from gameday.runbooks.database_connection_issues import VERDICT_KINDS
from gameday.verdict_keys import VerdictKind, registered
from tests.test_diagnose_database import ECOMMERCE, TOO_MANY, evidence

ROOT = Path(__file__).resolve().parents[1]
DB = "gameday.runbooks.database_connection_issues"
MAX_LINES = 400

# each part of a runbook package extends one layer of gameday's: it may import that layer and those below it
PART_LAYER = {"faults": "faults", "diagnosis": "diagnose", "actions": "chaos", "__init__": "verdict_keys"}


def layers() -> list[set[str]]:
    """The layers of pyproject.toml's contract, top to bottom, as sets of top-level module names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    return [{m.strip() for m in layer.replace("|", ":").split(":")} for layer in contract["layers"]]


def layer_of(name: str, stack: list[set[str]]) -> int:
    return next(i for i, layer in enumerate(stack) if name in layer)


def problems(package: Path) -> list[str]:
    """Every import of a package's module that reaches above its part's layer, or into another runbook package;
    in-function imports of gameday; modules over 400 lines."""
    stack = layers()
    own = runbooks.module_name(package.name)
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        part = rel.parts[0].removesuffix(".py")
        text = path.read_text()
        if len(text.splitlines()) > MAX_LINES:
            found.append(f"{rel}: over {MAX_LINES} lines")
        ceiling = layer_of(PART_LAYER.get(part, "faults"), stack)
        tree = ast.parse(text)
        nested = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                  for n in ast.walk(f) if isinstance(n, ast.Import | ast.ImportFrom)}
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [f"gameday.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom)
                     and node.module == "gameday"  # from gameday import interrupts
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in (n for n in names if n.split(".")[0] == "gameday"):
                if id(node) in nested:
                    found.append(f"{rel}:{node.lineno}: imports {name} inside a function")
                top = name.split(".")[1] if "." in name else ""
                if top == "runbooks":
                    if not (name == own or name.startswith(own + ".")):
                        found.append(f"{rel}:{node.lineno}: imports another runbook package ({name})")
                elif not top or layer_of(top, stack) < ceiling:
                    found.append(f"{rel}:{node.lineno}: {part} imports {name}, above its layer")
    return found


def test_the_database_runbook_carries_its_python_and_is_found_by_name() -> None:
    found = runbooks.discover()
    assert DB in found
    assert Path(found[DB].__file__ or "").parent == ROOT / "runbooks" / "database-connection-issues"
    parts = {m.__name__ for m in runbooks.modules("faults")}
    assert {f"{DB}.faults.exhaust_connections", f"{DB}.faults.rotate_credentials"} <= parts
    assert {m.__name__ for m in runbooks.modules("actions")} == {f"{DB}.actions"}


def test_its_faults_register_with_the_others_and_none_is_left_at_the_old_paths() -> None:
    assert type(faults.get_fault("exhaust-connections")).__module__ == f"{DB}.faults.exhaust_connections"
    assert type(faults.get_fault("rotate-credentials")).__module__ == f"{DB}.faults.rotate_credentials"
    assert type(faults.get_fault("restart-dependency")).__module__ == "gameday.faults.restart_dependency"  # generic
    for old in ("gameday/faults/exhaust_connections.py", "gameday/faults/rotate_credentials.py",
                "gameday/faults/postgres_admin.py", "gameday/diagnose/database.py",
                "gameday/chaos/database_actions.py"):
        assert not (ROOT / old).exists(), old


def test_its_verdict_kinds_are_known_with_their_titles_and_an_unknown_one_fails_clearly() -> None:
    assert set(VERDICT_KINDS) <= set(registered().values())
    for kind in VERDICT_KINDS:
        assert kind.key in KINDS and kind.key in TITLES
        assert TITLES[kind.key] == kind.title and ACTIONS[kind.key] == list(kind.actions)
    assert list(KINDS)[-1] == "unknown" and "no-outage" in KINDS
    assert "nothing-of-the-kind" not in KINDS
    with pytest.raises(KeyError, match=r"unknown verdict kind 'nothing-of-the-kind': expected one of .*connections-"):
        make_verdict("nothing-of-the-kind", "", [])


def test_its_rules_run_before_the_generic_ones() -> None:
    assert any(rule.__module__ == f"{DB}.diagnosis" for rule in runbook_rules())
    verdict = decide_all(evidence([TOO_MANY]), ECOMMERCE)
    assert verdict.key == "connections-exhausted:postgres"
    assert verdict.title == "database connections exhausted: postgres"
    assert decide_all(evidence([], postgres_ok=False), ECOMMERCE).key == "dependency-failure:postgres"


def test_each_part_of_every_runbook_package_stays_in_its_layer() -> None:
    for folder in runbooks.folders().values():
        assert problems(folder) == [], folder


def test_the_layer_check_finds_an_arrow_up_and_a_hidden_import(tmp_path: Path) -> None:
    """The check above is what the packages' layering rests on: it must fail on a bad package."""
    package = tmp_path / "bad-runbook"
    (package / "faults").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "faults" / "boom.py").write_text("from gameday.run import session\n")
    (package / "diagnosis.py").write_text("def decide(ev, profile):\n    from gameday.faults import FAULTS\n")
    (package / "actions.py").write_text("from gameday.runbooks.other_runbook import x\n")
    found = problems(package)
    assert any("faults imports gameday.run" in p for p in found), found
    assert any("inside a function" in p for p in found), found
    assert any("another runbook package" in p for p in found), found


MANIFEST = """\
name: team-runbook
title: Team Runbook
markdown: team-runbook.md
coverage: team-runbook.coverage.yml
steady_state: {title: healthy, checks: [{name: ok, probe: health_checks_pass}]}
notice: {subject: P2 - Team Runbook, body: investigating}
"""
PACKAGE = {
    "__init__.py": """
        from gameday.verdict_keys import VerdictKind
        QUEUE_FULL = VerdictKind("queue-full", "message queue full", ("rollout restart",))
        VERDICT_KINDS = (QUEUE_FULL,)
    """,
    "faults.py": """
        from typing import Any
        from gameday.faults.base import Fault
        from gameday.runbooks.team_runbook import QUEUE_FULL

        class FillQueue(Fault):
            name = "fill-queue"
            description = "fill the queue"

            def expected_verdict(self, params: dict[str, Any], profile: Any, target_kind: str | None = None) -> str:
                return QUEUE_FULL.key

            def inject(self, target: Any, params: dict[str, Any]) -> None:
                pass

            def undo(self, target: Any, params: dict[str, Any], saved: dict[str, Any]) -> None:
                pass
    """,
    "diagnosis.py": """
        from gameday.diagnose.verdicts import make_verdict
        from gameday.runbooks.team_runbook import QUEUE_FULL

        def decide(ev, profile):
            if any("queue full" in m.line for m in ev.log_matches):
                return make_verdict(QUEUE_FULL.key, "the queue is full", [])
            return None
    """,
}
CHECK = """
import json
from gameday import faults
from gameday.diagnose.diagnosis import decide_all
from tests.test_diagnose_database import ECOMMERCE, evidence
fault = faults.get_fault("fill-queue")
verdict = decide_all(evidence(["2026-12-07T02:38:43Z ERROR queue full"]), ECOMMERCE)
print(json.dumps({"expected": fault.expected_verdict({}, ECOMMERCE), "key": verdict.key, "title": verdict.title,
                  "actions": verdict.actions, "db": "rotate-credentials" in faults.FAULTS}))
"""


def write_package(root: Path, files: dict[str, str]) -> Path:
    folder = root / "runbooks" / "team-runbook"
    folder.mkdir(parents=True)
    (folder / "runbook.yaml").write_text(MANIFEST)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    return folder


def run_in(cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter in ``cwd`` (the runbook search path starts there; the registries start empty)."""
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def test_a_teams_package_in_the_working_directory_adds_a_fault_a_verdict_and_a_rule(tmp_path: Path) -> None:
    write_package(tmp_path, PACKAGE)
    done = run_in(tmp_path, CHECK)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        '{"expected": "queue-full", "key": "queue-full", "title": "message queue full", '
        '"actions": ["rollout restart"], "db": true}')


def test_a_package_whose_code_fails_to_import_is_one_clear_line(tmp_path: Path) -> None:
    write_package(tmp_path, {**PACKAGE, "faults.py": "import no_such_library_anywhere\n"})
    done = run_in(tmp_path, "from gameday import runbooks\nrunbooks.modules('faults')\n")
    assert done.returncode != 0
    assert "UsageError: runbook package" in done.stderr and "no_such_library_anywhere" in done.stderr


def test_a_package_that_redefines_a_verdict_kind_is_refused(tmp_path: Path) -> None:
    write_package(tmp_path, {"__init__.py": """
        from gameday.verdict_keys import VerdictKind
        VERDICT_KINDS = (VerdictKind("connections-exhausted", "mine now"),)
    """})
    done = run_in(tmp_path, "from gameday.verdict_keys import registered\nregistered()\n")
    assert done.returncode != 0
    assert "verdict kind 'connections-exhausted' is already defined by" in done.stderr


def test_the_finder_answers_only_for_runbook_packages() -> None:
    with pytest.raises(ModuleNotFoundError):
        __import__("gameday.runbooks.no_such_runbook")
    assert runbooks.module_name("database-connection-issues") == DB
    assert isinstance(VERDICT_KINDS[0], VerdictKind)
