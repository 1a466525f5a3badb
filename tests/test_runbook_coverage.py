"""``gameday coverage``: every operational runbook line, what checks it (tags), and the honest percentage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gameday.errors import UsageError
from gameday.runbook.cli import register
from gameday.runbook.coverage import (
    COVERED,
    COVERED_SECTIONS,
    NOT_AUTOMATABLE,
    NOT_COVERED,
    UNMAPPED,
    coverage,
    default_mapping_path,
    load_mapping,
)
from gameday.runbook.parse import default_runbook_path, parse_runbook, parse_text
from gameday.runbook.tags import collect_claims, experiment_claims, feature_claims, runbook_id

SHIPPED = parse_runbook(default_runbook_path())
MAPPING = default_mapping_path(default_runbook_path())

FEATURE = """# language: zh-TW
@runbook:symptoms:zero-successful-requests
功能: 服務中斷偵測

  背景:
    假如 服務正常

  @runbook:diagnosis:pods @runbook:diagnosis:events  # step 1 and 2
  場景: 所有 pod 被刪除
    當 所有 pod 被刪除
    那麼 診斷結果是 all replicas down

  @smoke
  場景大綱: 相依服務停止
    當 <dep> 停止

    @runbook:diagnosis:redis
    例子:
      | dep   |
      | redis |

  @runbook:no-such:line
  Scenario: English keywords work too
    Given nothing
"""


def test_the_mapping_names_every_line_of_the_shipped_runbook():
    report = coverage(SHIPPED, load_mapping(MAPPING), [])
    assert report.count(UNMAPPED) == 0
    assert report.stale == []
    assert {ln.section for ln in report.lines} == set(COVERED_SECTIONS)
    assert len(report.lines) == len([ln for ln in SHIPPED.lines if ln.section in COVERED_SECTIONS])
    # identical lines in two places get the right ids
    restarts = [ln.id for ln in report.lines if ln.text.startswith("kubectl rollout restart")]
    assert restarts == ["resolution:rollout-restart", "resolution:restore-config-and-restart"]
    assert next(ln for ln in report.lines if ln.id == "resolution:notify").status != NOT_COVERED  # tests/test_notify


def test_not_automatable_lines_say_why_and_do_not_count_against_the_percentage(tmp_path):
    mapping = tmp_path / "m.yml"
    mapping.write_text(
        "lines:\n"
        "  - id: symptoms:a\n    text: one\n    covered_by: [a test]\n"
        "  - id: symptoms:b\n    text: two\n"
        "  - id: symptoms:c\n    text: three\n    not_automatable: a person decides\n"
        "  - id: symptoms:d\n    text: four\n    covered_by: [another test]\n    note: only half of it\n",
        encoding="utf-8",
    )
    book = parse_text("## Symptoms\n\n- one\n- two\n- three\n- four\n")
    report = coverage(book, load_mapping(mapping), [])
    assert [(ln.id, ln.status, ln.reason) for ln in report.lines] == [
        ("symptoms:a", COVERED, ""),
        ("symptoms:b", NOT_COVERED, ""),
        ("symptoms:c", NOT_AUTOMATABLE, "a person decides"),
        ("symptoms:d", COVERED, "only half of it"),
    ]
    assert (report.automatable, report.percent) == (3, pytest.approx(200 / 3))


def test_the_shipped_mapping_says_what_its_escalation_checks_leave_out():
    report = coverage(SHIPPED, load_mapping(MAPPING), [])
    escalation = [ln for ln in report.lines if ln.section == "escalation"]
    assert len(escalation) == 3
    assert all(ln.status == COVERED and "not automatable" in ln.reason for ln in escalation)


def test_feature_tags_are_read_with_inheritance_and_examples(tmp_path):
    path = tmp_path / "outage.feature"
    path.write_text(FEATURE, encoding="utf-8")
    claims = feature_claims(path, "features/outage.feature")
    got = sorted((c.runbook_id, c.source) for c in claims)
    assert got == sorted([
        ("symptoms:zero-successful-requests", "features/outage.feature:9 所有 pod 被刪除"),
        ("diagnosis:pods", "features/outage.feature:9 所有 pod 被刪除"),
        ("diagnosis:events", "features/outage.feature:9 所有 pod 被刪除"),
        ("symptoms:zero-successful-requests", "features/outage.feature:14 相依服務停止"),
        ("diagnosis:redis", "features/outage.feature:14 相依服務停止"),
        ("symptoms:zero-successful-requests", "features/outage.feature:23 English keywords work too"),
        ("no-such:line", "features/outage.feature:23 English keywords work too"),
    ])


def test_experiment_tags_and_runbook_field(tmp_path):
    (tmp_path / "kill.json").write_text(json.dumps(
        {"title": "kill every replica", "tags": ["gameday", "runbook:symptoms:lb-503-504"],
         "runbook": ["resolution:rollout-restart", "@runbook:verification:pods-running"]}))
    (tmp_path / "stop.yaml").write_text("title: stop redis\nruntime: {}\nrunbook: diagnosis:redis\n")
    (tmp_path / "broken.yaml").write_text(": : :\n")
    claims = collect_claims(None, tmp_path, root=tmp_path)
    assert sorted((c.runbook_id, c.source) for c in claims) == [
        ("diagnosis:redis", "stop.yaml: stop redis"),
        ("resolution:rollout-restart", "kill.json: kill every replica"),
        ("symptoms:lb-503-504", "kill.json: kill every replica"),
        ("verification:pods-running", "kill.json: kill every replica"),
    ]
    assert experiment_claims(tmp_path / "broken.yaml") == []


def test_runbook_id_of_tags():
    assert runbook_id("@runbook:diagnosis:pods") == "diagnosis:pods"
    assert runbook_id("runbook:") is None
    assert runbook_id("@smoke") is None


def test_tags_cover_lines_and_unknown_tags_are_listed(tmp_path):
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "outage.feature").write_text(FEATURE, encoding="utf-8")
    claims = collect_claims(tmp_path / "features", None, root=tmp_path)
    report = coverage(SHIPPED, load_mapping(MAPPING), claims)
    line = next(ln for ln in report.lines if ln.id == "symptoms:zero-successful-requests")
    assert line.status == COVERED
    assert "features/outage.feature:9 所有 pod 被刪除" in line.covered_by
    assert [c.runbook_id for c in report.unknown_tags] == ["no-such:line"]
    before = coverage(SHIPPED, load_mapping(MAPPING), []).count(COVERED)
    # zero-success, and Impact's "all users" that its tag also covers; the diagnosis lines were already covered
    assert report.count(COVERED) == before + 2


def test_a_changed_runbook_line_is_unmapped_and_its_entry_stale(tmp_path):
    changed = default_runbook_path().read_text(encoding="utf-8").replace("零成功請求", "零個成功的請求")
    book = parse_text(changed, tmp_path / "service-outage.md")
    report = coverage(book, load_mapping(MAPPING), [])
    unmapped = [ln for ln in report.lines if ln.status == UNMAPPED]
    assert [ln.text for ln in unmapped] == ["零個成功的請求"]
    assert report.stale == ["symptoms:zero-successful-requests: 零成功請求"]


def test_mapping_errors_are_one_clear_line(tmp_path):
    with pytest.raises(UsageError, match="coverage mapping not found"):
        load_mapping(tmp_path / "none.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("lines:\n  - id: a:b\n  - id: a:b\n    text: x\n")
    with pytest.raises(UsageError, match="entry 'a:b' needs 'text'"):
        load_mapping(bad)
    bad.write_text("lines:\n  - id: a:b\n    text: x\n  - id: a:b\n    text: y\n")
    with pytest.raises(UsageError, match="appears twice"):
        load_mapping(bad)
    bad.write_text("[1, 2]\n")
    with pytest.raises(UsageError, match="'lines' list"):
        load_mapping(bad)


def test_cli_lists_lines_and_percentage(tmp_path, monkeypatch):
    (tmp_path / "features" / "service-outage").mkdir(parents=True)  # ./features/<runbook>/ before the project's
    (tmp_path / "features" / "service-outage" / "outage.feature").write_text(FEATURE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    result = runner.invoke(app, ["coverage", str(default_runbook_path())])
    assert result.exit_code == 0, result.output
    assert "symptoms:zero-successful-requests" in result.output
    assert "← features/service-outage/outage.feature:9 所有 pod 被刪除" in result.output
    assert "NOT COVERED" in result.output
    assert "unknown tag @runbook:no-such:line in features/service-outage/outage.feature:23" in result.output
    data = json.loads(runner.invoke(app, ["coverage", str(default_runbook_path()), "--json"]).output)
    assert data["unmapped"] == 0
    left = [ln for ln in data["lines"] if ln["status"] == "not-automatable"]
    assert len(left) == data["not_automatable"] and all(ln["reason"] for ln in left)  # each says why
    assert 0 < data["percent"] < 100
    below = runner.invoke(app, ["coverage", str(default_runbook_path()), "--fail-under", "100"])
    assert below.exit_code == 1
    nothing = runner.invoke(app, ["coverage", str(Path(tmp_path) / "missing.md")])
    assert nothing.exit_code != 0 and "runbook not found" in str(nothing.exception)


def test_an_experiments_plain_section_tag_covers_a_line_but_is_never_an_unknown_tag(tmp_path):
    (tmp_path / "undo.json").write_text(json.dumps(
        {"title": "failed deployment", "tags": ["resolution:rollout-undo", "symptoms:outage", "fault:bad-release"]}))
    claims = collect_claims(None, tmp_path, root=tmp_path)
    assert [(c.runbook_id, c.explicit) for c in claims] == [("resolution:rollout-undo", False),
                                                            ("symptoms:outage", False)]
    report = coverage(SHIPPED, load_mapping(MAPPING), claims)
    undo = next(ln for ln in report.lines if ln.id == "resolution:rollout-undo")
    assert (undo.status, undo.covered_by) == (COVERED, ["undo.json: failed deployment"])
    assert report.unknown_tags == []
