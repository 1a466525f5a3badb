"""Where a run meets its history: recorded at its end, scored, given its trends, judged by the gate.

``remember_game_day`` and ``remember_smoke`` are the one call at the end of a game day and of a smoke.
They never fail the run: a history that cannot be opened or written costs one warning line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gameday import placeholders
from gameday.config import Settings
from gameday.errors import GamedayError
from gameday.history.gate import EXIT_REGRESSION, GateResult, Policy, judge
from gameday.history.records import UNKNOWN_PROFILE, RunRecord, from_game_day, from_smoke, game_day_report, run_id
from gameday.history.score import Targets, score_run
from gameday.history.store import HistoryStore, RunFilter, history_url, open_store
from gameday.result import GameDayReport
from gameday.targets.base import Target
from gameday.version import __version__

TREND_RUNS = 30
Warn = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def profile_of(report: GameDayReport | None, settings: Settings) -> str:
    """The service profile a report was run against: the report says, else the settings' profile."""
    if report is not None and report.profile:
        return str(report.profile)
    try:
        return settings.service.service.name
    except (GamedayError, ValueError, OSError):  # a profile that does not load: say so, never guess a service
        return UNKNOWN_PROFILE


def service_version(target: Target | None) -> str | None:
    """The version the target runs now, if it can say."""
    if target is None:
        return None
    try:
        revision = target.current_revision()
    except Exception:  # any target's failure to say: the history records no version, the run goes on
        return None
    return revision.version if revision else None


def remember_game_day(report: GameDayReport, settings: Settings, target: Target | None = None,
                      report_dir: Path | None = None, warn: Warn = _stderr) -> None:
    """Score the report, record it in the history and add its trends; the report gains
    ``run_id``, ``profile``, ``service_version``, ``gameday_version``, ``score`` and ``trends``."""
    fields = report.model_fields_set
    if "run_id" not in fields:
        report.run_id = run_id(float(report.started_at or 0.0))
    if "profile" not in fields:
        report.profile = profile_of(report, settings)
    if "service_version" not in fields:
        report.service_version = service_version(target)
    if "gameday_version" not in fields:
        report.gameday_version = __version__
    report.score = score_run(report.experiments, Targets.from_slo(settings.slo))
    report.trends = None
    try:
        store = open_store(history_url(settings))
        try:
            run = from_game_day(placeholders.mask_value(report.to_dict()), Targets.from_slo(settings.slo),  # no secret
                                str(report_dir) if report_dir else None)
            store.record(run)
            report.trends = trends(store, run)
        finally:
            store.close()
    except Exception as exc:  # the history is a by-product: it never fails the game day (one warning line)
        warn(f"gameday: warning: run not recorded in the history: {_why(exc)}")


def remember_smoke(smoke: dict[str, Any], started_at: float, settings: Settings, target: Target | None = None,
                   warn: Warn = _stderr) -> None:
    """Record a smoke (``SmokeReport.to_dict()``) in the history; never raises."""
    remember_run(from_smoke(placeholders.mask_value(smoke), started_at, profile_of(None, settings),  # no secret kept
                            service_version(target)), settings, warn)


def remember_run(run: RunRecord, settings: Settings, warn: Warn = _stderr) -> None:
    """Record any run (a smoke, a canary: ``RunRecord(kind="canary", ...)``); never raises."""
    try:
        store = open_store(history_url(settings))
        try:
            store.record(run)
        finally:
            store.close()
    except Exception as exc:  # the history is a by-product: it never fails the run (one warning line)
        warn(f"gameday: warning: {run.kind} not recorded in the history: {_why(exc)}")


def _why(exc: Exception) -> str:
    return str(exc) if isinstance(exc, GamedayError) else f"{type(exc).__name__}: {exc}"


def trends(store: HistoryStore, run: RunRecord, last: int = TREND_RUNS) -> dict[str, Any]:
    """The score and each experiment's time to recover over the last game days of this target and profile."""
    past = store.runs(RunFilter(kind="run", target=run.target, profile=run.profile, before=run.started_at + 1e-3,
                                last=last))
    return {
        "runs": [{"id": r.id, "started_at": r.started_at, "score": r.score} for r in past],
        "recover_s": {name: [(r.experiment(name).phases.get("recover") if r.experiment(name) else None)
                             for r in past]
                      for name in dict.fromkeys(e.name for r in past for e in r.experiments)},
    }


def regressions(game_day: GameDayReport | dict[str, Any], settings: Settings,
                policy: Policy | None = None) -> GateResult:
    """The gate over a finished game day: its experiments' figures against the history before it."""
    report = game_day_report(game_day)
    policy = policy or Policy.from_settings(settings.history)
    store = open_store(history_url(settings))
    try:
        history = store.phase_history(str(report.target), profile_of(report, settings), before=report.started_at,
                                      exclude=report.run_id, last=policy.window)
    finally:
        store.close()
    # every experiment that reached a figure is judged (a failed one's recovery is still a measurement); the
    # baseline is made of passed runs only
    current = {e.name: e.phases for e in from_game_day(report, Targets.from_slo(settings.slo)).experiments}
    return judge(current, history, policy)


def check_gate_store(settings: Settings) -> None:
    """``--fail-on-regression`` before the game day: the gate will need the history, so a history that cannot be
    opened (a server that does not answer, a corrupt or empty file) is refused now, before any fault
    (:class:`~gameday.history.store.HistoryError`, exit 2), not after the whole game day has run."""
    open_store(history_url(settings)).close()


def regression_gate(game_day: GameDayReport | dict[str, Any], settings: Settings, exit_code: int,
                    say: Warn = print) -> int:
    """``--fail-on-regression``: say what the gate found; the run's exit code, or EXIT_REGRESSION (4) when
    a game day that passed is slower than its history. A failed game day keeps its own exit code."""
    report = game_day_report(game_day)
    if report.status == "interrupted":
        return exit_code
    result = regressions(report, settings)
    for finding in result.regressions:
        say(f"regression gate: {finding.line()}")
    judged = len(result.findings) - len(result.not_enough_history)
    summary = f"regression gate: {len(result.regressions)} regression(s) in {judged} figure(s) judged"
    if not_judged := result.not_judged(settings.history.regression_min_runs):  # passed runs of history
        summary += f"; {not_judged}"
    say(summary)
    return EXIT_REGRESSION if result.regressions and exit_code == 0 else exit_code
