"""``gameday run``: the whole game day."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gameday.chaos.dry_run import print_plan
from gameday.config import Settings, get_settings, use_settings
from gameday.errors import UsageError
from gameday.flags import within
from gameday.guard import stops
from gameday.history.remember import check_gate_store
from gameday.load.runner import MAX_DURATION_S, MAX_USERS
from gameday.run.session import DIAGNOSIS_MODES, GameDay, GameDayOptions
from gameday.runbook.package import find


def following(settings: Settings, runbook: str) -> Settings:
    """The settings with the profile following ``runbook`` first: everything downstream (the catalogue, the game
    day's checklist, symptoms, escalation and alert) follows the profile's first runbook."""
    profile = settings.service
    runbooks = [runbook, *(r for r in profile.runbooks if r != runbook)]
    return settings.model_copy(update={"service": profile.model_copy(update={"runbooks": runbooks})})


def register(app: typer.Typer) -> None:
    """Add ``gameday run`` to the CLI."""

    @app.command("run")
    def run(
        experiment: Annotated[list[str] | None, typer.Argument(help="experiment names or files (default: all)")] = None,
        runbook: Annotated[str | None, typer.Option(
            "--runbook", help="the runbook package whose game day to run (default: the profile's first runbook)")]
        = None,
        users: Annotated[int, typer.Option(help="locust users of the background load (1-200)")] = 4,
        baseline: Annotated[float, typer.Option(help="seconds of baseline load before the first fault (0-3600)")]
        = 12.0,
        verify_window: Annotated[float, typer.Option(
            help="seconds of load after each recovery that the Verification checklist judges (at least; it waits "
                 "on until the error rate is decided)")] = 8.0,
        no_alert_wait: Annotated[bool, typer.Option(
            "--no-alert-wait", help="resolve without waiting for the page (an expected alert that did not fire is "
                                    "then 'not judged')")] = False,
        diagnosis: Annotated[str, typer.Option(
            "--diagnosis", help="strict: a wrong diagnosis, an expected alert that did not fire or an unexpected "
                                "one fails the experiment; advisory: reported, not gating")] = "strict",
        reports_dir: Annotated[Path | None, typer.Option(help="where reports/<timestamp>/ goes")] = None,
        allow_production: Annotated[bool, typer.Option(help="allow the production namespace")] = False,
        no_live: Annotated[bool, typer.Option("--no-live", help="plain progress lines")] = False,
        fail_on_regression: Annotated[bool, typer.Option(
            "--fail-on-regression", help="exit 4 when an experiment is slower than its history (docs/history.md)")]
        = False,
        stop_on: Annotated[list[str] | None, typer.Option(
            "--stop-on", help="stop condition, repeatable: [EXPERIMENT/]outage:120s | 'promql:EXPR [for 10s] [at URL]'"
            " | 'http:URL [for 2s]' | 'blast:PATH>5% [for 5s]', each ending in 'on-error continue' to ignore it while "
            "it cannot be evaluated (default: it holds; exit 6 when one fires; README 'Guardrails')")]
        = None,
        continue_after_stop: Annotated[bool, typer.Option(
            "--continue-after-stop", help="after a stop condition fired, still run the remaining experiments")]
        = False,
        wait: Annotated[float, typer.Option(
            "--wait", help="seconds to wait for another game day on this target to finish (default: refuse)")] = 0.0,
        dry_run: Annotated[bool, typer.Option(
            "--dry-run", help="touch nothing: print what each experiment would touch, expect and resolve")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="with --dry-run: machine-readable")] = False,
    ) -> None:
        """Run every experiment of the catalogue under load, measure, diagnose and write the report."""
        if diagnosis not in DIAGNOSIS_MODES:
            raise UsageError(f"--diagnosis {diagnosis!r}: expected {' or '.join(DIAGNOSIS_MODES)}")
        within("--users", users, 1, MAX_USERS)  # every flag before the profile, the lock or the target
        within("--baseline", baseline, 0, MAX_DURATION_S, "s")
        within("--verify-window", verify_window, 1, MAX_DURATION_S, "s")
        within("--wait", wait, 0, unit="s")
        settings = get_settings()
        if runbook is not None:
            settings = use_settings(following(settings, find(runbook).name))
        if allow_production:
            safety = settings.safety.model_copy(update={"allow_production": True})
            settings = use_settings(settings.model_copy(update={"safety": safety}))
        conditions = stops.with_specs(settings.stop_conditions, list(stop_on or []))
        if continue_after_stop:
            conditions = conditions.model_copy(update={"continue_after_stop": True})
        if dry_run:
            raise typer.Exit(print_plan(settings, list(experiment or []), conditions, as_json))
        if fail_on_regression:
            check_gate_store(settings)  # a history the gate cannot read ends the run now, before any fault (exit 2)
        options = GameDayOptions(
            experiments=list(experiment or []),
            users=users,
            baseline_s=baseline,
            verify_window_s=verify_window,
            wait_for_alert=not no_alert_wait,
            reports_dir=reports_dir,
            live=not no_live,
            stop_conditions=conditions,
            lock_wait_s=wait,
            diagnosis=diagnosis,
            fail_on_regression=fail_on_regression,
        )
        result = GameDay(settings, options).run()
        print((result.out_dir / "summary.md").read_text())
        print(f"report: {result.out_dir / 'index.html'}")
        for line in result.report.regression_gate.lines if result.report.regression_gate else []:  # the gate's last
            print(line)
        raise typer.Exit(result.exit_code)
