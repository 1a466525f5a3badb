"""``gameday runs`` (list, import) and ``gameday compare``: the history on the command line.

Wire it with ``from gameday.history.cli import register; register(app)``. ``gameday history`` stays the
rollout history of the target.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gameday.config import get_settings
from gameday.errors import UsageError
from gameday.history.compare import compare
from gameday.history.gate import Policy
from gameday.history.records import RunRecord, from_game_day, read_report
from gameday.history.schema import PHASES
from gameday.history.score import Targets
from gameday.history.store import HistoryStore, RunFilter, history_url, open_store

out = Console(markup=False, highlight=False, width=None if sys.stdout.isatty() else 200)


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _flag(value: bool | None) -> str:
    return "–" if value is None else ("yes" if value else "NO")


def _store() -> HistoryStore:
    return open_store(history_url(get_settings()))


def print_runs(runs: list[RunRecord], experiment: str | None) -> None:
    """The runs, then each run's experiments (only ``experiment`` when given)."""
    table = Table("RUN", "KIND", "TARGET", "PROFILE", "VERSION", "STARTED", "WALL s", "STATUS", "SCORE", "EXIT",
                  title="runs")
    for r in runs:
        table.add_row(r.id, r.kind, r.target, r.profile, r.service_version or "–", r.started_iso(),
                      _s(r.wall_time_s), r.status, "–" if r.score is None else f"{r.score:.1f}", str(r.exit_code))
    out.print(table)
    exps = Table("RUN", "EXPERIMENT", "VERDICT", *(f"{p.upper()} s" for p in PHASES), "DIAGNOSIS", "ALERT OK",
                 "CHECKLIST", title="experiments")
    for r in runs:
        for e in r.experiments:
            if experiment and e.name != experiment:
                continue
            diagnosis = "–" if e.diagnosis_correct is None else \
                f"{'right' if e.diagnosis_correct else 'WRONG'} ({e.diagnosis_actual})"
            exps.add_row(r.id, e.name, e.verdict, *(_s(e.phases.get(p)) for p in PHASES), diagnosis,
                         _flag(e.alert_as_expected), f"{e.checklist_passed}/{len(e.checklist)}")
    out.print(exps)


def register(app: typer.Typer) -> None:
    """Add ``runs`` (with ``runs import``) and ``compare`` to the CLI."""
    runs_app = typer.Typer(help="Every game day and smoke remembered: list them, import old reports.",
                           invoke_without_command=True, no_args_is_help=False)
    app.add_typer(runs_app, name="runs")

    @runs_app.callback()
    def runs(
        ctx: typer.Context,
        experiment: Annotated[str | None, typer.Option(help="only runs of this experiment")] = None,
        last: Annotated[int, typer.Option(help="the newest N runs")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    ) -> None:
        """The runs in the history, oldest first, with each experiment's verdict and phase times."""
        if ctx.invoked_subcommand:
            return
        if last < 1:
            raise UsageError(f"--last must be at least 1, got {last}")
        store = _store()
        try:
            found = store.runs(RunFilter(experiment=experiment, last=last))
        finally:
            store.close()
        if as_json:
            print(json.dumps([r.to_dict() for r in found], indent=2, default=str))
        elif not found:
            out.print(f"no runs in the history ({store.shown_url})" + (f" with {experiment}" if experiment else ""))
        else:
            print_runs(found, experiment)

    @runs_app.command("import")
    def import_reports(
        reports: Annotated[list[Path], typer.Argument(help="report.json files (reports/*/report.json)")],
    ) -> None:
        """Load existing game day reports into the history; a report already there is skipped."""
        targets = Targets.from_slo(get_settings().slo)
        runs: list[RunRecord] = []
        bad: list[str] = []
        for path in reports:  # every report read first: when none is good, the history is not even opened
            try:
                runs.append(from_game_day(read_report(path), targets, str(path.resolve().parent)))
            except UsageError as exc:
                bad.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
        if not runs:
            raise UsageError("\n".join(bad))
        store = _store()
        added = skipped = 0
        try:
            for run in runs:
                if store.record(run, replace=False):
                    added += 1
                else:
                    skipped += 1
        finally:
            store.close()
        out.print(f"imported {added} run(s), {skipped} already in the history ({store.shown_url})")
        if bad:
            for line in bad[:-1]:
                print(f"gameday: {line}", file=sys.stderr)
            raise UsageError(bad[-1])

    @app.command("compare")
    def compare_runs(
        run_a: Annotated[str, typer.Argument(help="run id (or an unambiguous prefix), from 'gameday runs'")],
        run_b: Annotated[str, typer.Argument(help="run id to compare with RUN_A")],
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    ) -> None:
        """Per experiment and phase: B minus A, and whether it is beyond the history's noise (MAD, ≥5 runs)."""
        policy = Policy.from_settings(get_settings().history)
        store = _store()
        try:
            a, b = store.get(run_a), store.get(run_b)
            history = store.phase_history(b.target, b.profile, last=policy.window)
        finally:
            store.close()
        diffs = compare(a, b, history, policy)
        if as_json:
            print(json.dumps({"a": a.id, "b": b.id, "differences": [d.to_dict() for d in diffs]}, indent=2))
            return
        score = "–" if a.score is None or b.score is None else f"{b.score - a.score:+.1f}"
        out.print(f"A {a.id} ({a.status}, score {_s(a.score)})  B {b.id} ({b.status}, score {_s(b.score)}): "
                  f"score {score}")
        table = Table("EXPERIMENT", "PHASE", "A s", "B s", "B-A s", "NOISE s", "JUDGEMENT")
        for d in diffs:
            delta = "–" if d.delta is None else f"{d.delta:+.2f}"
            table.add_row(d.experiment, d.phase, _s(d.a), _s(d.b), delta, _s(d.noise_s), d.judgement)
        out.print(table)
