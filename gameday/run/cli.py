"""``gameday run``: the whole game day."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gameday.config import get_settings, use_settings


def register(app: typer.Typer) -> None:
    """Add ``gameday run`` to the CLI."""

    @app.command("run")
    def run(
        experiment: Annotated[list[str] | None, typer.Argument(help="experiment names or files (default: all)")] = None,
        users: Annotated[int, typer.Option(help="locust users of the background load")] = 4,
        baseline: Annotated[float, typer.Option(help="seconds of baseline load before the first fault")] = 12.0,
        no_alert_wait: Annotated[bool, typer.Option("--no-alert-wait", help="resolve without waiting for the page")]
        = False,
        reports_dir: Annotated[Path | None, typer.Option(help="where reports/<timestamp>/ goes")] = None,
        allow_production: Annotated[bool, typer.Option(help="allow the production namespace")] = False,
        no_live: Annotated[bool, typer.Option("--no-live", help="plain progress lines")] = False,
    ) -> None:
        """Run every experiment of the catalogue under load, measure, diagnose and write the report."""
        from gameday.run.session import GameDay, GameDayOptions

        settings = get_settings()
        if allow_production:
            safety = settings.safety.model_copy(update={"allow_production": True})
            settings = use_settings(settings.model_copy(update={"safety": safety}))
        options = GameDayOptions(
            experiments=list(experiment or []),
            users=users,
            baseline_s=baseline,
            wait_for_alert=not no_alert_wait,
            reports_dir=reports_dir,
            live=not no_live,
        )
        result = GameDay(settings, options).run()
        print((result.out_dir / "summary.md").read_text())
        print(f"report: {result.out_dir / 'index.html'}")
        raise typer.Exit(result.exit_code)
