"""``gameday chaos ...``: run, list and validate the runbook's chaos experiments.

Registered by the lead in ``gameday/cli.py`` with ``register(app)``; until then (and for tests)
``python -m gameday.chaos.cli`` runs the same commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``chaos`` command group (run, list, validate) to the gameday CLI."""
    chaos = typer.Typer(help="Chaos experiments of the Service Outage runbook (chaostoolkit).", no_args_is_help=True)
    app.add_typer(chaos, name="chaos")

    @chaos.command("run")
    def run_command(
        experiment: Annotated[str, typer.Argument(help="an experiment file, or a name from experiments/")],
        journal: Annotated[Path | None, typer.Option(help="where to write the journal")] = None,
        quiet: Annotated[bool, typer.Option(help="do not show chaostoolkit's progress on stderr")] = False,
    ) -> None:
        """Run one experiment: rollbacks always, SIGINT/SIGTERM undo its faults, the journal decides."""
        from gameday.chaos import runner

        result = runner.run(experiment, journal_path=journal, log_to_stderr=not quiet)
        typer.echo(result.line())
        typer.echo(f"journal: {result.journal_path}")
        raise typer.Exit(result.exit_code)

    @chaos.command("list")
    def list_command() -> None:
        """The shipped experiments, with their titles."""
        from gameday.chaos import lint

        for path in lint.available():
            typer.echo(f"{path.stem:<20} {lint.load(path).get('title', '')}")

    @chaos.command("validate")
    def validate_command(
        experiments: Annotated[list[str] | None, typer.Argument(help="files or names (default: all shipped)")] = None,
    ) -> None:
        """Check experiments (chaostoolkit's validation plus gameday's faults and dependencies); nothing runs."""
        from gameday.chaos import lint

        paths = [lint.resolve(e) for e in experiments] if experiments else lint.available()
        for path in paths:
            lint.load(path)
            typer.echo(f"valid: {path}")


def main() -> None:
    """``python -m gameday.chaos.cli``: the gameday CLI with the chaos group registered."""
    from gameday import cli

    if not any(group.name == "chaos" for group in cli.app.registered_groups):
        register(cli.app)
    cli.main()


if __name__ == "__main__":
    main()
