"""The game day report: every file written, and the page rendered with its charts in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import matplotlib.image as mpimg
import pytest

from gameday.report.writer import write_report

T0 = 1_790_000_000.0


def _report() -> tuple[dict, list[dict]]:
    seconds = []
    for i in range(60):
        failing = 10 <= i < 25
        seconds.append({"t": T0 + i, "requests": 45, "failures": 45 if failing else 0,
                        "p95_ms": 300 if failing else 12})
    items = [("all pods running", "3/3 replicas Running and ready"),
             ("error rate < 1%", "0/400 failed, upper bound 0.95%")]
    checklist = [{"name": n, "status": "pass", "detail": d} for n, d in items]
    experiment = {
        "name": "all-pods-down", "title": "All pods down", "status": "passed", "message": "ok",
        "started_at": T0, "finished_at": T0 + 58, "injected_at": T0 + 9.5, "detected_at": T0 + 10.0,
        "resolution_started_at": T0 + 22, "recovered_at": T0 + 25, "verified_at": T0 + 40,
        "time_to_detect_s": 0.5, "time_to_recover_s": 15.5, "time_to_verify_s": 30.5,
        "symptoms_expected": ["load balancer 503/504"], "symptoms_seen": {"load balancer 503/504": True},
        "checklist": checklist,
        "diagnosis": {"verdict": "all-replicas-down", "expected": "all-replicas-down", "correct": True,
                      "command": "gameday rollout restart"},
        "alert": {"alertname": "APIEndpointDown", "expected": True, "fired_at": T0 + 28, "resolved_at": T0 + 30,
                  "time_to_fire_s": 18.5, "as_expected": True},
        "escalation": {"level": "on-call engineer", "steps": ["on-call engineer"]},
        "notifications": [{"channel": "pagerduty", "kind": "trigger"}],
    }
    failed = {**experiment, "name": "bad-config", "status": "failed", "message": "the service did not come back",
              "checklist": [{"name": "error rate < 1%", "status": "fail", "detail": "45/45 failed"}]}
    report = {"status": "failed", "message": "failed: bad-config", "target": "local", "started_at": T0,
              "wall_time_s": 120.0, "baseline": {"rps": 45.0, "p95_ms": 12.0}, "experiments": [experiment, failed],
              "confusion": {"labels": ["all-replicas-down"], "counts": {"all-replicas-down": {"all-replicas-down": 2}},
                            "correct": 2, "total": 2},
              "dry_run": True, "ledger_clean": True}
    return report, seconds


def test_every_report_file_is_written(tmp_path):
    report, seconds = _report()
    out = write_report(report, seconds, tmp_path / "r")
    assert json.loads((out / "report.json").read_text())["status"] == "failed"
    suite = ET.fromstring((out / "junit.xml").read_text())
    assert suite.get("tests") == "5" and suite.get("failures") == "2"  # 2 experiments + 3 checklist items
    summary = (out / "summary.md").read_text()
    assert "| bad-config | failed |" in summary and "the service did not come back" in summary
    html = (out / "index.html").read_text()
    assert html.count('<img class="chart"') == 2 and "APIEndpointDown" in html


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed (make install)")
def test_report_page_renders_its_charts_in_headless_chromium(tmp_path):
    report, seconds = _report()
    out = write_report(report, seconds, tmp_path / "r")
    shot = tmp_path / "page.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tempfile.mkdtemp()}",
         f"--screenshot={shot}", "--window-size=1200,1600", (out / "index.html").as_uri()],
        capture_output=True, timeout=90, check=False,
    )
    assert shot.exists(), "chromium wrote no screenshot"
    pixels = mpimg.imread(str(shot))
    red = (pixels[..., 0] > 0.75) & (pixels[..., 1] < 0.35) & (pixels[..., 2] < 0.35)  # the error-rate line, badges
    purple = (abs(pixels[..., 0] - 0.58) < 0.08) & (abs(pixels[..., 1] - 0.40) < 0.08) & (pixels[..., 2] > 0.65)
    assert red.sum() > 500, "no red (error rate line / failed badge) on the page"
    assert purple.sum() > 200, "the p95 chart line is not on the page: charts not rendered"


def test_report_of_a_run_with_no_load_data_still_renders(tmp_path):
    report, _ = _report()
    out = write_report(report, [], tmp_path / "r")
    assert "<img" not in (out / "index.html").read_text()
