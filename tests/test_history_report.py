"""The report's resilience score and trends (index.html, viewed in headless Chromium), and each experiment's
chart ending where the experiment ends."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from gameday.config import HistorySettings, Settings
from gameday.history.remember import remember_game_day
from gameday.report.writer import experiment_seconds, write_report
from gameday.result import GameDayReport

REPORT = Path(__file__).resolve().parent / "data" / "history" / "report-all-pods-down.json"


def _seconds(t0: float, n: int) -> list[dict]:
    return [{"t": t0 + i, "requests": 45, "failures": 0, "p95_ms": 12} for i in range(n)]


def test_an_experiment_chart_ends_where_the_experiment_ends_not_in_the_next_one():
    seconds = _seconds(1000.0, 100)
    first = experiment_seconds(seconds, start=1002.0, end=1040.5)
    assert first[0]["t"] == 1000.0 and first[-1]["t"] == 1039.0  # 1040 would run past 1040.5: the next one's
    second = experiment_seconds(seconds, start=1040.6, end=1080.0, previous_end=1040.5)
    assert second[0]["t"] == 1041.0  # not the first's last seconds either
    assert not {s["t"] for s in first} & {s["t"] for s in second}


def _history_report(tmp_path: Path, runs: int = 6) -> GameDayReport:
    """``runs`` game days from the real report, recovery slower and the score lower in the last one."""
    settings = Settings(state_dir=tmp_path, history=HistorySettings(url=f"sqlite:///{tmp_path / 'h.db'}"))
    base = json.loads(REPORT.read_text())
    report = GameDayReport()
    for i in range(runs):
        report = GameDayReport.model_validate_json(REPORT.read_text())
        report.started_at = base["started_at"] + 3600 * i
        exp = report.experiments[0]
        if i == runs - 1:
            exp.time_to_recover_s, exp.status = 45.0, "failed"
            report.status = "failed"
        remember_game_day(report, settings, warn=pytest.fail)
    return report


def test_the_report_shows_the_score_its_breakdown_and_the_trends(tmp_path):
    report = _history_report(tmp_path)
    assert report.score and report.score.score == 60.0  # the one experiment failed: 0.4 of its points lost
    assert report.trends and len(report.trends["runs"]) == 6
    assert report.trends["recover_s"]["all-pods-down"][-1] == 45.0
    out = write_report(report, [], tmp_path / "r")
    saved = json.loads((out / "report.json").read_text())
    assert saved["score"]["experiments"][0]["parts"]["passed"] == 0.0
    html = (out / "index.html").read_text()
    assert "Resilience score: <span class=\"score\">60.0</span> / 100" in html
    assert html.count('class="chart trend"') == 2
    assert "Resilience score: **60.0** / 100" in (out / "summary.md").read_text()


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed (make install)")
def test_the_trend_charts_render_in_headless_chromium(tmp_path):
    report = _history_report(tmp_path)
    report.experiments = []  # only the score and the trends on the page
    out = write_report(report, [], tmp_path / "r")
    shot = tmp_path / "page.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tempfile.mkdtemp()}",
         f"--screenshot={shot}", "--window-size=1200,1400", (out / "index.html").as_uri()],
        capture_output=True, timeout=90, check=False,
    )
    assert shot.exists(), "chromium wrote no screenshot"
    pixels = mpimg.imread(str(shot))[..., :3]
    # the score line (#2ca02c) and the all-pods-down recovery line (matplotlib's first colour, #1f77b4)
    green = (abs(pixels[..., 0] - 0.17) < 0.08) & (abs(pixels[..., 1] - 0.63) < 0.08) & (pixels[..., 2] < 0.25)
    blue = (abs(pixels[..., 0] - 0.12) < 0.08) & (abs(pixels[..., 1] - 0.47) < 0.08) & (pixels[..., 2] > 0.62)
    assert green.sum() > 400, "the score trend is not on the page"
    assert blue.sum() > 400, "the time-to-recover trend is not on the page"
