"""``gameday chaos ...``: run, list and validate the runbook's chaos experiments.

Registered in ``gameday/cli.py`` with ``register(app)`` (``python -m gameday chaos ...`` runs them too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gameday.chaos import lint, runner
from gameday.chaos.dry_run import print_plan
from gameday.config import get_settings
from gameday.flags import within


def register(app: typer.Typer) -> None:
    """Add the ``chaos`` command group (run, list, validate) to the gameday CLI."""
    chaos = typer.Typer(help="Chaos experiments of the Service Outage runbook (chaostoolkit).", no_args_is_help=True)
    app.add_typer(chaos, name="chaos")

    @chaos.command("run")
    def run_command(
        experiment: Annotated[str, typer.Argument(help="an experiment file, or a name of the profile's runbook")],
        journal: Annotated[Path | None, typer.Option(help="where to write the journal")] = None,
        quiet: Annotated[bool, typer.Option(help="do not show chaostoolkit's progress on stderr")] = False,
        wait: Annotated[float, typer.Option(
            "--wait", help="seconds to wait for another game day on this target to finish (default: refuse)")] = 0.0,
        dry_run: Annotated[bool, typer.Option(
            "--dry-run", help="touch nothing: print what the experiment would touch, expect and resolve")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="with --dry-run: machine-readable")] = False,
    ) -> None:
        """Run one experiment: rollbacks always, SIGINT/SIGTERM undo its faults, the journal decides.

        An experiment that does not apply to the service (kafka-down without Kafka) is SKIPPED: exit 0.
        """
        within("--wait", wait, 0, unit="s")  # before the experiment is read, the lock taken or the target reached
        settings = get_settings()
        if dry_run:
            raise typer.Exit(print_plan(settings, [experiment], settings.stop_conditions, as_json))
        result = runner.run(experiment, journal_path=journal, settings=settings, log_to_stderr=not quiet,
                            lock_wait_s=wait)
        typer.echo(result.line())
        if result.journal_path:
            typer.echo(f"journal: {result.journal_path}")
        raise typer.Exit(result.exit_code)  # a skipped experiment (does not apply to this service) exits 0

    @chaos.command("list")
    def list_command() -> None:
        """The shipped experiments, with their titles."""
        for path in lint.available(get_settings().service.runbook):
            typer.echo(f"{path.stem:<20} {lint.load(path).get('title', '')}")

    @chaos.command("validate")
    def validate_command(
        experiments: Annotated[list[str] | None, typer.Argument(help="files or names (default: all shipped)")] = None,
    ) -> None:
        """Check experiments (chaostoolkit's validation plus gameday's faults and dependencies, and the lint: runbook
        defaults left to the runbook, the fault named once); nothing runs. Exit 1 on any finding."""
        runbook = get_settings().service.runbook
        paths = [lint.resolve(e, runbook) for e in experiments] if experiments else lint.available(runbook)
        found = 0
        for path in paths:
            problems = lint.findings(path)
            for line in problems:
                typer.echo(line, err=True)
            found += len(problems)
            if not problems:
                typer.echo(f"valid: {path}")
        raise typer.Exit(1 if found else 0)
