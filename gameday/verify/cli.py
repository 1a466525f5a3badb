"""``gameday smoke``: the post-deploy verification (the runbook's checklist) as one command.

Wire it with ``from gameday.verify.cli import register; register(app)``. The target comes from the global
options (``gameday --target kubernetes --context C --base-url URL smoke``) or configuration.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gameday.config import get_settings
from gameday.history.remember import remember_smoke
from gameday.targets import get_target
from gameday.verify.smoke import SmokeReport, run_smoke

out = Console(highlight=False, soft_wrap=True)


def print_report(report: SmokeReport) -> None:
    """Each item with its measured numbers, then the outcome."""
    for attempt in report.attempts:
        out.print(f"{attempt.label} of {report.target} ({report.base_url}), {attempt.elapsed_s:.1f} s:", markup=False)
        for v in attempt.verdicts:
            out.print(f"  {v.line()}", markup=False)
        if attempt is report.attempts[0] and report.rollback is not None:
            rb = report.rollback
            if rb.get("done"):
                src, dst = rb.get("from") or {}, rb["to"]
                out.print(f"rolled back: revision {src.get('revision')} ({src.get('version')}) -> "
                          f"revision {dst['revision']} ({dst['version']})", markup=False)
            else:
                out.print(f"rollback failed: {rb.get('error')}", markup=False)
    verdict = "PASSED" if report.passed else "FAILED"
    restarted = sorted({r.replica for a in report.attempts for r in a.restarts})
    tail = f"; restarted during the gate: {', '.join(restarted)}" if restarted else ""
    if not report.passed and len(report.attempts) > 1:
        tail += f"; after rollback the service {'passes' if report.attempts[1].passed else 'still fails'}"
    out.print(f"smoke {verdict} in {report.elapsed_s:.1f} s{tail}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``smoke`` to the gameday CLI (once: calling it again changes nothing)."""
    if any((c.name or getattr(c.callback, "__name__", "")) == "smoke" for c in app.registered_commands):
        return

    @app.command()
    def smoke(
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable report on stdout")] = False,
        rollback_on_failure: Annotated[bool, typer.Option(
            "--rollback-on-failure", help="on failure, roll back to the previous revision and verify again")] = False,
        users: Annotated[int | None, typer.Option(
            help="locust users of the load window (1-50; default: the profile's load.users)")] = None,
        max_load_seconds: Annotated[float | None, typer.Option(
            help="longest load window (3-300 s; default: the profile's verify.window_s)")] = None,
        out_dir: Annotated[Path | None, typer.Option(help="keep the load timeline and stats here")] = None,
    ) -> None:
        """Post-deploy smoke: the runbook's verification checklist; exit 0 only when every item passes."""
        settings = get_settings()
        target, started = get_target(settings), time.time()
        report = run_smoke(target, settings, rollback_on_failure=rollback_on_failure, users=users,
                           max_load_s=max_load_seconds, out_dir=out_dir)
        remember_smoke(report.to_dict(), started, settings, target)  # one warning line at worst, never a failure
        if as_json:
            print(json.dumps(report.to_dict(), indent=2, default=str, ensure_ascii=False))
        else:
            print_report(report)
        raise typer.Exit(report.exit_code)
