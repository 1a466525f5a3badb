"""runbook-check on the local stack: the shipped runbook works; a drifted copy is reported line by line."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from gameday.config import get_settings
from gameday.runbook.check import DRIFT, NOT_RUN, OK, check_runbook
from gameday.runbook.cli import register
from gameday.runbook.parse import default_runbook_path, parse_runbook, parse_text

pytestmark = pytest.mark.slow


def test_the_shipped_runbook_has_not_drifted_from_the_local_target(healthy):
    history_before = healthy.history()
    report = check_runbook(parse_runbook(default_runbook_path()), healthy, get_settings())
    assert report.failing == [], [(r.line, r.detail) for r in report.failing]
    by_line = {r.line: r for r in report.results}
    assert by_line[28].status == OK and "3 pods, 3 ready" in by_line[28].detail
    assert by_line[51].status == OK and "postgres OK" in by_line[51].detail
    assert by_line[59].status == OK and "kafka OK" in by_line[59].detail
    assert by_line[93].status == NOT_RUN
    assert healthy.history() == history_before  # nothing was rolled out


def test_a_drifted_runbook_is_reported_line_by_line(healthy, tmp_path):
    text = default_runbook_path().read_text(encoding="utf-8")
    drifted = (
        text.replace("-l app=ecommerce-backend", "-l app=wrong")
        .replace("rollout history deployment/ecommerce-backend", "rollout history deployment/ecommerce-api")
        .replace("get svc ecommerce-backend -n production", "get svc ecommerce-backend -n prod")
    )
    report = check_runbook(parse_text(drifted, tmp_path / "drifted.md"), healthy, get_settings())
    failing = {r.line: r for r in report.failing}
    assert sorted(failing) == [28, 34, 41]
    assert all(r.status == DRIFT for r in failing.values())
    assert "app=wrong" in failing[28].detail
    assert "namespace 'prod'" in failing[34].detail
    assert "deployment 'ecommerce-api'" in failing[41].detail

    path = tmp_path / "drifted.md"
    path.write_text(drifted, encoding="utf-8")
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["runbook-check", str(path), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert [r["line"] for r in data["results"] if r["status"] == "drift"] == [28, 34, 41]
