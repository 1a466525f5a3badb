"""``gameday canary VERSION``: wire it with ``from gameday.canary.cli import register; register(app)``.

Exit 0 when promoted to every replica; 1 when rolled back (harm measured) or refused (too little evidence until the
deadline); 2 on bad input, with nothing changed.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from gameday.canary.analysis import Tolerances
from gameday.canary.run import (
    CanaryReport,
    Plan,
    own_canaries,
    parse_steps,
    refuse_if_running,
    run_canary,
    step_line,
)
from gameday.canary.scenarios import load, run_scenarios
from gameday.config import get_settings
from gameday.errors import UsageError
from gameday.guard.gate import game_day_lock
from gameday.ledger import Ledger
from gameday.runbook.package import find
from gameday.state import StateDir
from gameday.targets import get_target

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
EXIT_INTERRUPTED = 130


def print_report(report: CanaryReport) -> None:
    """Each step with both sides and its reasons, then the outcome."""
    for step in report.steps:
        out.print(step_line(step), markup=False)
        for reason in step.verdict.reasons if step.verdict is not None else ():
            out.print(f"    {reason}", markup=False)
    after = report.after or {}
    out.print(f"canary {report.version}: {report.outcome.upper()} ({report.reason}); every replica now runs "
              f"revision {after.get('revision')} ({after.get('version')}); new release served by "
              f"{', '.join(report.served_new) or 'no replica'}; {report.elapsed_s:.1f} s", markup=False)


def interrupted(ledger: Ledger) -> int:
    """After Ctrl-C: one line, as SIGTERM gets, saying whether the rollback finished; exit 130. (Typer turns a
    KeyboardInterrupt into a silent exit 130, so the CLI's own line for it is never reached.)"""
    if own_canaries(ledger):
        err.print("gameday: interrupted; the canary's rollback did not finish: run 'gameday abort'", markup=False)
    else:
        err.print("gameday: interrupted; faults of this run were undone (nothing of the canary is left)",
                  markup=False)
    return EXIT_INTERRUPTED


def register(app: typer.Typer) -> None:
    """Add ``canary`` to the gameday CLI (once)."""
    if any((c.name or getattr(c.callback, "__name__", "")) == "canary" for c in app.registered_commands):
        return

    @app.command()
    def canary(
        version: Annotated[str, typer.Argument(help="the release to roll out (one the profile or history knows)")],
        steps: Annotated[str | None, typer.Option(
            help="canary replicas at each step, e.g. 1,2 (default: 1 up to all but one)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable report on stdout")] = False,
        error_tolerance: Annotated[float, typer.Option(
            help="how much higher the canary's error rate may be (0-1)")] = Tolerances.error_rate,
        latency_tolerance_ms: Annotated[float, typer.Option(
            help="how much slower the canary's median may be (ms)")] = Tolerances.latency_ms,
        p95_ratio: Annotated[float, typer.Option(help="how many times the primary's p95 the canary's may be")]
            = Tolerances.p95_ratio,
        confidence: Annotated[float, typer.Option(help="confidence of each comparison (0.5-1)")]
            = Tolerances.confidence,
        step_timeout: Annotated[float, typer.Option(
            help="seconds an undecided step keeps measuring before the canary is refused")] = 60.0,
        users: Annotated[int | None, typer.Option(help="load users (default: the profile's load.users)")] = None,
    ) -> None:
        """Roll VERSION out to a growing share of the replicas under load; promote or roll back by measurement."""
        settings = get_settings()
        try:
            tolerances = Tolerances(error_rate=error_tolerance, latency_ms=latency_tolerance_ms,
                                    p95_ratio=p95_ratio, confidence=confidence)
        except ValueError as exc:
            raise UsageError(f"tolerances: {exc}") from None
        plan = Plan(version, parse_steps(steps) if steps is not None else None, tolerances, step_timeout, users=users)
        ledger = Ledger(StateDir(settings.state_dir).ensure().ledger)
        refuse_if_running(ledger)  # before the lock: a second canary is bad input, not a busy target
        try:
            with game_day_lock(settings, command=f"gameday canary {version}"):
                target = get_target(settings)
                report = run_canary(target, settings.service, ledger, plan,
                                    say=lambda line: err.print(line, markup=False))
        except KeyboardInterrupt:
            raise typer.Exit(interrupted(ledger)) from None
        if as_json:
            print(json.dumps(report.to_dict(), indent=2, default=str))
        else:
            print_report(report)
        raise typer.Exit(report.exit_code)

    @app.command("canary-scenarios")
    def canary_scenarios(
        names: Annotated[list[str] | None, typer.Argument(help="scenario names (default: every one)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable results on stdout")] = False,
    ) -> None:
        """The runbook's canary scenarios (canaries.yaml): each release rolled out by canary, its decision checked."""
        settings = get_settings()
        chosen = load(find(settings.service.runbook).folder)
        unknown = [n for n in names or [] if n not in {s.name for s in chosen}]
        if unknown:
            raise UsageError(f"unknown canary scenario {unknown[0]!r}: expected one of "
                             f"{', '.join(s.name for s in chosen)}")
        chosen = [s for s in chosen if not names or s.name in names]
        ledger = Ledger(StateDir(settings.state_dir).ensure().ledger)
        refuse_if_running(ledger)
        try:
            with game_day_lock(settings, command="gameday canary-scenarios"):
                results = run_scenarios(chosen, get_target(settings), settings.service, ledger,
                                        say=lambda line: err.print(line, markup=False))
        except KeyboardInterrupt:
            raise typer.Exit(interrupted(ledger)) from None
        if as_json:
            print(json.dumps([r.to_dict() for r in results], indent=2, default=str))
        else:
            for result in results:
                out.print(f"== {result.scenario.name} ({result.scenario.release} release {result.version})",
                          markup=False)
                if result.report is not None:
                    print_report(result.report)
                verdict = "SKIPPED: " + (result.skipped or "") if result.report is None else (
                    "as expected" if result.passed else "NOT as expected: " + "; ".join(result.problems))
                out.print(f"   -> {verdict}", markup=False)
        raise typer.Exit(0 if all(r.passed for r in results) else 1)
