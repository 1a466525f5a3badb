"""The end of a game day: its report completed (baseline, load, confusion matrix), remembered, gated, written.

The report is a :class:`gameday.result.GameDayReport`; the history scores and records it, the regression gate (when
asked) judges it against that history, and :mod:`gameday.report.writer` writes ``report.json`` and the pages.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gameday.config import Settings
from gameday.diagnose.scoring import confusion_matrix
from gameday.errors import GamedayError
from gameday.guard import stops
from gameday.history.remember import regression_gate, remember_game_day
from gameday.notify.sender import Notifier
from gameday.report.writer import write_report
from gameday.result import Baseline, GameDayReport, RegressionGate
from gameday.run.background import Background
from gameday.targets.base import Target


def exit_code(report: GameDayReport) -> int:
    """0 only when every experiment recovered and verified (and, strict, was diagnosed right and paged as
    expected); 6 stopped by a stop condition; 130 (SIGINT) or 143 (SIGTERM) when interrupted; 1 failed; 4 when
    the regression gate (``fail_on_regression``) found a passed run slower than its history (README "Exit
    codes")."""
    status = report.status
    if status == "interrupted":
        return 143 if report.signal == "SIGTERM" else 130
    gate = report.regression_gate
    return (gate.exit_code if gate else None) or {"passed": 0, "stopped": stops.EXIT_STOPPED}.get(status, 1)


def write(report: GameDayReport, background: Background, notifier: Notifier, settings: Settings, target: Target,
          out_dir: Path, fail_on_regression: bool) -> None:
    """Complete the report, remember it in the history (score, trends; never raises), gate it when asked, write it."""
    # a verdict the fault also accepts (a slow dependency named as degrading) is right: on the diagonal
    pairs = [(r.diagnosis.verdict if r.diagnosis.correct else r.diagnosis.expected, r.diagnosis.verdict)
             for r in report.experiments if r.diagnosis]
    unsent = notifier.failed()
    if unsent:  # pages that could not be sent belong in the status line, not only in report.json
        report.message = (str(report.message or "") + f"; {len(unsent)} notification(s) NOT sent: "
                          + ", ".join(n.describe() for n in unsent)).lstrip("; ")
    started_at = report.started_at or 0.0
    report.finished_at = time.time()
    report.wall_time_s = time.time() - started_at
    baseline = background.baseline
    report.baseline = Baseline(
        rps=baseline.rate_rps if baseline else None,
        p95_ms=baseline.p95_ms if baseline else None,
        error_rate=(baseline.failures / baseline.requests) if baseline and baseline.requests else None,
    )
    report.notifications_failed = [n.describe() for n in unsent]
    report.confusion = confusion_matrix(pairs).to_dict() if pairs else None
    report.dry_run = notifier.dry_run
    report.load = background.load.stop().to_dict() if background.load else None
    seconds = [chart_second(s.to_json()) for s in background.timeline().seconds]
    remember_game_day(report, settings, target, out_dir)  # score, history, trends; never raises
    if fail_on_regression and report.status != "interrupted":
        report.regression_gate = gate(report, settings)
    write_report(report, seconds, out_dir)


def gate(report: GameDayReport, settings: Settings) -> RegressionGate:
    """The gate's lines and exit code, in the report: a gate that could not judge (too little history, a store
    that stopped answering) is read there too, not only on the console."""
    said: list[str] = []
    before = exit_code(report)
    try:
        code = regression_gate(report, settings, before, said.append)
    except GamedayError as exc:  # the store was checked before the run; it failed since: one line, its code
        said.append(f"regression gate: could not judge the run: {exc}")
        code = before or exc.exit_code
    return RegressionGate(lines=said, exit_code=code)


def blind_line(blind: list[dict[str, Any]]) -> str:
    """``guard blind: promql up == 0 for 3.2s (Prometheus at ... unreachable (ConnectError))``, per condition."""
    total: dict[str, list[Any]] = {}
    for episode in blind:
        seen = total.setdefault(episode["condition"], [0.0, episode["cause"]])
        seen[0] += episode["seconds"]
    return "guard blind: " + "; ".join(f"{name} for {seconds:.1f}s ({cause})"
                                       for name, (seconds, cause) in total.items())


def chart_second(s: dict[str, Any]) -> dict[str, Any]:
    """One second of the load's timeline, as the report's charts read it."""
    return {"t": s["t"], "requests": s.get("requests", 0), "failures": s.get("failures", 0),
            "p95_ms": s.get("p95")}


def new_report_dir(parent: Path, stamp: str) -> Path:
    """``parent/<stamp>``, or ``<stamp>-2``, ``-3`` ...: created here, so two runs never share a directory."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path.resolve()
    raise GamedayError(f"no free report directory for {stamp} under {parent}")
