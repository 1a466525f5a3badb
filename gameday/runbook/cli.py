"""``gameday runbook-check NAME|PATH`` and ``gameday coverage NAME|PATH``: the runbook's fidelity, as commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gameday.config import get_settings
from gameday.errors import UsageError
from gameday.flags import within
from gameday.runbook.check import FAILING, CommandCheck, RunbookCheck, check_runbook
from gameday.runbook.coverage import (
    COVERED_SECTIONS,
    NOT_AUTOMATABLE,
    CoverageReport,
    coverage,
    default_mapping_path,
    load_mapping,
)
from gameday.runbook.package import Runbook, find, owning
from gameday.runbook.parse import parse_runbook
from gameday.runbook.tags import collect_claims
from gameday.targets import get_target

PROJECT_ROOT = Path(__file__).resolve().parents[2]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def register(app: typer.Typer) -> None:
    """Add ``runbook-check`` and ``coverage`` to the gameday command."""
    app.command("runbook-check")(runbook_check)
    app.command("coverage")(coverage_command)


RunbookArgument = Annotated[str | None, typer.Argument(
    help="a runbook package's name (default: the profile's runbook), or a runbook's markdown file")]


def runbook_file(name_or_path: str | None) -> tuple[Path, Runbook | None]:
    """The markdown to read and the package it belongs to (None for a loose file); no name: the profile's runbook."""
    if name_or_path is not None and (Path(name_or_path).is_file() or name_or_path.endswith(".md")):
        return Path(name_or_path), owning(Path(name_or_path))  # parsing a missing file says so
    package = find(name_or_path or get_settings().service.runbook)
    return package.markdown, package


def runbook_check(
    path: RunbookArgument = None,
    as_json: JsonOption = False,
) -> None:
    """Run the runbook's read-only commands against the target; report each as ok, drift or broken."""
    path_, _ = runbook_file(path)
    runbook = parse_runbook(path_)
    if not runbook.commands():
        raise UsageError(f"{path_}: no commands found (fenced bash blocks)")
    settings = get_settings()
    try:
        target = get_target(settings)
    except ImportError as exc:
        raise UsageError(f"the {settings.target} target is not available: {exc}") from None
    target.reachable()
    report = check_runbook(runbook, target, settings)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_check(report)
    if report.failing:
        raise typer.Exit(1)


def print_check(report: RunbookCheck) -> None:
    """Line by line, for people."""
    typer.echo(f"runbook-check {report.runbook} on the {report.target} target")
    if report.variables:
        typer.echo("  variables: " + ", ".join(f"{k}={v}" for k, v in report.variables.items()))
    where = ""
    for r in report.results:
        if r.where != where:
            where = r.where
            typer.echo(f"\n{where}")
        typer.echo(_check_line(r))
    counts = report.counts()
    typer.echo(
        f"\n{counts['ok']} ok, {counts['drift']} drift, {counts['broken']} broken, "
        f"{counts['not-run']} not run, {counts['skipped']} skipped"
        + (" — the runbook has drifted from the target" if report.failing else "")
    )


def _check_line(r: CommandCheck) -> str:
    label = {"ok": "OK", "drift": "DRIFT", "broken": "BROKEN", "not-run": "NOT RUN", "skipped": "SKIPPED"}[r.status]
    mark = "✗" if r.status in FAILING else " "
    out = f" {mark} L{r.line:<4} {label:<8} {r.command}\n              {r.detail}"
    if r.ran:
        out += f"  [{r.ran}]"
    return out


def _default_dir(name: str) -> Path:
    here = Path.cwd() / name
    return here if here.is_dir() else PROJECT_ROOT / name


def coverage_command(
    path: RunbookArgument = None,
    mapping: Annotated[Path | None, typer.Option(help="coverage mapping (default: the package's)")] = None,
    features: Annotated[Path | None, typer.Option(
        help="feature files (default: the package's, features/NAME/; a loose markdown's: ./features)")] = None,
    experiments: Annotated[Path | None, typer.Option(help="experiments (default: the package's)")] = None,
    fail_under: Annotated[float | None, typer.Option(
        help="exit 1 when coverage is below this percentage (0-100)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every line of the runbook's operational sections with the scenarios/experiments that check it."""
    if fail_under is not None:  # a threshold no coverage can meet (or NaN, which every one passes) is refused
        within("--fail-under", fail_under, 0, 100, "%")
    for flag, given in (("--features", features), ("--experiments", experiments)):
        if given is not None and not given.is_dir():  # else every line would read "not covered", silently
            raise UsageError(f"{flag} {given}: no such directory")
    markdown, package = runbook_file(path)
    runbook = parse_runbook(markdown)
    mapping = mapping or default_mapping_path(runbook.path)
    features = features or (package.features_dir if package else _default_dir("features"))
    experiments = experiments or (package.experiments_dir if package else None)
    claims = collect_claims(features, experiments, root=Path.cwd())
    report = coverage(runbook, load_mapping(mapping), claims, str(mapping))
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_coverage(report)
    if fail_under is not None and report.percent < fail_under:
        raise typer.Exit(1)


def print_coverage(report: CoverageReport) -> None:
    """Section by section, for people."""
    typer.echo(f"coverage of {report.runbook} (mapping {report.mapping})")
    for section in COVERED_SECTIONS:
        lines = [ln for ln in report.lines if ln.section == section]
        if not lines:
            continue
        typer.echo(f"\n{section.capitalize()}")
        for ln in lines:
            label = {"covered": "covered", "not-automatable": "NOT AUTOMATABLE", "not-covered": "NOT COVERED",
                     "unmapped": "UNMAPPED"}[ln.status]
            typer.echo(f"  L{ln.line:<4} {ln.id or '-':<38} {label:<15} {ln.text}")
            for source in ln.covered_by:
                typer.echo(f"        ← {source}")
            if ln.reason:
                typer.echo(f"        ({ln.reason})")
    typer.echo(
        f"\n{report.count('covered')}/{report.automatable} automatable lines covered ({report.percent:.1f}%); "
        f"{report.count(NOT_AUTOMATABLE)} not automatable, {report.count('unmapped')} unmapped, "
        f"{len(report.lines)} lines in all"
    )
    for item in report.stale:
        typer.echo(f"  stale mapping entry (text no longer in the runbook): {item}")
    for claim in report.unknown_tags:
        typer.echo(f"  unknown tag @runbook:{claim.runbook_id} in {claim.source}")
