"""``gameday halt`` and ``gameday resume``: the emergency stop, from any shell."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from gameday.config import get_settings
from gameday.guard.halt import describe, halt, resume
from gameday.guard.records import records_for
from gameday.safety import guard_settings
from gameday.targets import ledger_for


def register(app: typer.Typer) -> None:
    """Add ``halt`` and ``resume`` to the CLI."""

    @app.command("halt")
    def halt_command(
        reason: Annotated[str, typer.Option("--reason", help="why (shown to everyone who tries to start one)")] = "",
    ) -> None:
        """Freeze every game day on this target, undo every fault in the ledger at once, resolve its pages, let the
        runs write their partial reports, refuse new ones until resume."""
        settings = get_settings()
        guard_settings(settings)  # a halt changes the target too: the allowlist first, before any network call
        result = halt(records_for(settings), ledger_for(settings), reason, settings=settings)
        for pid in result.stopped_pids:
            how = "SIGKILL: no partial report" if pid in result.killed_pids else "ended itself on SIGTERM"
            typer.echo(f"stopped: gameday process {pid} ({how})")
        for line in result.undone.lines():
            typer.echo(line)
        at = datetime.fromtimestamp(result.record["at"]).strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"halted by {result.record['by']} at {at} (faults undone in {result.faults_undone_s:.2f}s, "
                   f"all done in {result.duration_s:.2f}s): game days refused until 'gameday resume'")
        if result.undone.failed:
            raise typer.Exit(1)

    @app.command("resume")
    def resume_command() -> None:
        """Lift a halt: game days, chaos runs and injections are allowed again."""
        record = resume(records_for(get_settings()))
        typer.echo(f"resumed: lifted the halt {describe(record)}" if record else "not halted: nothing to resume")
