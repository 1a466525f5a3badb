"""Write a game day report directory from a run's :class:`gameday.result.GameDayReport`.

Every value from ``{env.NAME}`` is masked before anything is written (``gameday.placeholders.mask_value``): a report
is kept, attached to tickets and pasted in chat.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jinja2
from markupsafe import Markup

from gameday import placeholders
from gameday.report.charts import experiment_chart
from gameday.report.trends import trend_charts
from gameday.result import Alert, GameDayReport

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("gameday.report", "templates"), autoescape=True, undefined=jinja2.ChainableUndefined
)


def fmt_s(value: float | None) -> str:
    """Seconds for people; a dash when there is no value (nor a key: an alert Prometheus could not tell about)."""
    if value is None or isinstance(value, jinja2.Undefined) or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def mark(flag: bool | None) -> Markup:
    """A tick, a cross or a dash."""
    if flag is None:
        return Markup('<span class="dash">–</span>')
    return Markup('<span class="tick">✔</span>' if flag else '<span class="cross">✘</span>')


def write_report(game_day: GameDayReport | dict[str, Any], seconds: list[dict[str, Any]], out_dir: Path) -> Path:
    """Write index.html, report.json, junit.xml and summary.md (secrets masked); return the directory."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = placeholders.mask_value(GameDayReport.of(game_day).to_dict())
    seconds = placeholders.mask_value(seconds)
    data.setdefault("started_iso", datetime.fromtimestamp(data["started_at"]).isoformat(timespec="seconds"))
    (out_dir / "report.json").write_text(json.dumps(data, indent=2, default=str))
    report = GameDayReport.model_validate(data)  # what was written: masked
    html_report = dict(data)  # the template reads the report.json it is beside
    html_report["experiments"] = []
    previous_end = None
    for exp, exp_data in zip(report.experiments, data["experiments"], strict=True):
        start = exp.started_at or report.started_at or 0.0
        end = exp.finished_at or start
        window = experiment_seconds(seconds, start, end, previous_end)
        chart = experiment_chart(window, exp, start, end) if window else None
        html_report["experiments"].append({**exp_data, "chart": chart})
        previous_end = end
    html_report["trend_charts"] = trend_charts(report.trends)
    html = _ENV.get_template("index.html.j2").render(report=html_report, fmt_s=fmt_s, mark=mark)
    (out_dir / "index.html").write_text(html)
    (out_dir / "junit.xml").write_text(junit_xml(report))
    (out_dir / "summary.md").write_text(summary_markdown(report))
    return out_dir


def experiment_seconds(seconds: list[dict[str, Any]], start: float, end: float,
                       previous_end: float | None = None) -> list[dict[str, Any]]:
    """The timeline seconds of one experiment: from 2 s before its start (never before the previous one
    ended) to its end; a second that runs past the end belongs to the next experiment's traffic."""
    low = start - 2 if previous_end is None or previous_end > start else max(start - 2, previous_end)
    return [s for s in seconds if s["t"] >= low and s["t"] + 1 <= end]


def junit_xml(report: GameDayReport) -> str:
    """One test case per experiment and per checklist item of each experiment."""
    suite = ET.Element("testsuite", name="gameday", timestamp=report.started_iso or "")
    cases = failures = 0
    for exp in report.experiments:
        items = [(exp.name, "experiment", exp.status, exp.message or "")]
        items += [(f"{exp.name}: {c.name}", "checklist", c.status, c.detail or "") for c in exp.checklist]
        for name, kind, status, detail in items:
            case = ET.SubElement(suite, "testcase", classname=f"gameday.{kind}", name=name)
            cases += 1
            if status not in ("pass", "passed"):
                failures += 1
                ET.SubElement(case, "failure", message=f"{status}: {detail}"[:500]).text = detail
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("time", f"{report.wall_time_s or 0:.1f}")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def alert_cell(alert: Alert | None) -> str:
    """The paging alert against what was expected: ✔/✘ fired or quiet, or "not judged" and why."""
    if not alert:
        return "–"
    fired = "fired" if alert.fired_at else "quiet"
    if alert.as_expected is None:
        return f"not judged ({alert.not_judged or alert.error or 'no data'})"
    return f"{'✔' if alert.as_expected else '✘'} {fired}"


def gate_summary(report: GameDayReport) -> str | None:
    """The regression gate's last line, when the run was gated (``--fail-on-regression``)."""
    lines = report.regression_gate.lines if report.regression_gate else []
    return lines[-1] if lines else None


def summary_markdown(report: GameDayReport) -> str:
    """A short summary for a pull request comment or a chat message."""
    mode = report.diagnosis_mode
    gate = gate_summary(report)
    lines = [
        f"## Game day: {report.status.upper()} ({report.target}, {fmt_s(report.wall_time_s)}"
        + (f", diagnosis {mode}" if mode else "") + ")"
        + (f" — {len(report.notifications_failed)} notification(s) NOT sent"
           if report.notifications_failed else "")
        + (f" — {gate.removeprefix('regression gate: ')}" if gate and "not judged" in gate else ""),
        "",
        "| experiment | result | detect | recover | verify | diagnosis | alert | escalation |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for e in report.experiments:
        diag = e.diagnosis
        verdict = f"{'✔' if diag.correct else '✘'} {diag.verdict}" if diag else "–"
        level = e.escalation.level if e.escalation and "level" in e.escalation.model_fields_set else "–"
        lines.append(
            f"| {e.name} | {e.status} | {fmt_s(e.time_to_detect_s)} | {fmt_s(e.time_to_recover_s)}"
            f" | {fmt_s(e.time_to_verify_s)} | {verdict} | {alert_cell(e.alert)} | {level} |"
        )
    if report.score and report.score.score is not None:
        lines += ["", f"Resilience score: **{report.score.score:.1f}** / 100 (docs/history.md)"]
    failed = [e for e in report.experiments if e.status != "passed"]
    if failed:
        lines += ["", "**Failed:**"] + [f"- {e.name}: {e.message or ''}" for e in failed]
    advisory = [f"- {e.name}: {p}" for e in report.experiments for p in e.advisory]
    if advisory:  # --diagnosis advisory: what strict would have failed
        lines += ["", "**Diagnosis advisory (not gating):**", *advisory]
    if report.skipped:  # experiments that do not apply to this service (not run, not failed)
        lines += ["", "**Skipped:**"] + [f"- {e.name}: {e.reason}" for e in report.skipped]
    if report.guard_blind:  # stop conditions that could not be evaluated for a while
        lines += ["", "**Guard blind:**"] + [
            f"- {b['condition']}: {b['seconds']:.1f} s ({b['cause']}; on error: {b['on_error']})"
            for b in report.guard_blind]
    if report.regression_gate:
        lines += ["", "**Regression gate:**"] + [f"- {line}" for line in report.regression_gate.lines]
    if report.message:
        lines += ["", report.message]
    return "\n".join(lines) + "\n"
