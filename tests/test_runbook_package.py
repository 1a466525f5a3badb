"""Runbook packages: found by name, their files and data, and gameday doing what their manifest says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from gameday import symptoms
from gameday.alerts.rules import RunbookLink
from gameday.config import Settings
from gameday.diagnose.rules import KINDS
from gameday.errors import UsageError
from gameday.notify import escalation, messages
from gameday.run.cli import following
from gameday.runbook.coverage import default_mapping_path, load_mapping
from gameday.runbook.package import MANIFEST, available, find, load, owning
from gameday.verify.checklist import ITEMS, run_checklist
from gameday.verify.measurements import Measurements

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = find("service-outage")


def test_service_outage_is_found_by_name_with_its_files() -> None:
    assert "service-outage" in available()
    assert PACKAGE.folder == ROOT / "runbooks" / "service-outage"
    assert PACKAGE.markdown.read_text(encoding="utf-8").startswith("# Runbook: Service Outage")
    assert PACKAGE.coverage.is_file()
    assert {p.stem for p in PACKAGE.experiments()} >= {"all-pods-down", "postgres-down", "kafka-down"}
    assert PACKAGE.experiment("redis-down") == PACKAGE.experiments_dir / "redis-down.json"
    assert PACKAGE.experiment("nothing") is None


def test_the_docs_link_leads_into_the_package() -> None:
    link = ROOT / "docs" / "runbooks" / "service-outage.md"
    assert link.resolve() == PACKAGE.markdown.resolve()
    assert owning(link) == PACKAGE
    assert default_mapping_path(link) == PACKAGE.coverage


def test_an_unknown_runbook_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"^no runbook package 'nope': .* one of: .*service-outage"):
        find("nope")


def test_a_broken_manifest_is_one_line_naming_the_file_and_field(tmp_path: Path) -> None:
    data = yaml.safe_load((PACKAGE.folder / MANIFEST).read_text(encoding="utf-8"))
    data["steady_state"]["checks"] = []
    data["colour"] = "red"
    (tmp_path / MANIFEST).write_text(yaml.safe_dump(data))
    with pytest.raises(UsageError) as err:
        load(tmp_path)
    message = str(err.value)
    assert message.startswith(str(tmp_path / MANIFEST)) and "\n" not in message
    assert "steady_state.checks" in message and "colour: Extra inputs are not permitted" in message


def test_a_package_missing_its_markdown_says_so(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text((PACKAGE.folder / MANIFEST).read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(UsageError, match=r"markdown: no file .*service-outage\.md"):
        load(tmp_path)


def test_the_manifest_names_only_what_gameday_knows_and_lines_of_the_coverage_map() -> None:
    manifest = PACKAGE.manifest
    ids = {entry.id for entry in load_mapping(PACKAGE.coverage)}
    assert set(PACKAGE.symptoms) <= set(symptoms.ALL)
    assert set(PACKAGE.checklist) <= set(ITEMS)
    assert set(manifest.diagnosis) <= set(KINDS)
    named = [s.id for s in manifest.symptoms] + [c.id for c in manifest.checklist if c.id] + \
        [s.id for s in manifest.escalation] + [r.line for r in manifest.diagnosis.values()] + \
        [c.covers for c in manifest.steady_state.checks if c.covers]
    assert set(named) <= ids, sorted(set(named) - ids)


def _copy(tmp_path: Path, edit: dict) -> Path:
    """A copy of the project's Service Outage parts (package, experiments) under ``tmp_path``, its manifest edited."""
    shutil.copytree(PACKAGE.folder, tmp_path / "runbooks" / "service-outage")
    shutil.copytree(PACKAGE.experiments_dir, tmp_path / "experiments" / "service-outage")
    manifest = tmp_path / "runbooks" / "service-outage" / MANIFEST
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    manifest.write_text(yaml.safe_dump({**data, **edit}, allow_unicode=True), encoding="utf-8")
    return tmp_path


class _NoReplicas:
    """A target with no replica: enough for the checklist items that read only the replicas (or nothing)."""

    def replicas(self) -> list:
        return []


def test_editing_the_manifest_changes_what_gameday_does(tmp_path: Path) -> None:
    edited = {
        "escalation": [{"id": "escalation:page-oncall", "after_minutes": 0, "who": "on-call engineer"},
                       {"id": "escalation:manager", "after_minutes": 1, "who": "engineering manager"}],
        "checklist": [{"id": "verification:error-rate", "check": "error-rate"},
                      {"id": "verification:pods-running", "check": "pods-running"}],
        "notice": {"subject": "P1 - Partial Outage", "body": "Some users see errors."},
        "symptoms": [{"id": "symptoms:lb-503-504", "check": symptoms.LB_5XX}],
        "detection": {"paging_alert": "latency"},
    }
    runbook = find("service-outage", cwd=_copy(tmp_path, edited))  # ./runbooks first: the edited copy
    assert runbook.folder == tmp_path / "runbooks" / "service-outage"
    assert runbook.experiments_dir == tmp_path / "experiments" / "service-outage"
    # the escalation policy: at 90 s of outage the manager is reached (the shipped policy: on-call only)
    assert escalation.level(90, runbook.escalation) == "engineering manager"
    assert escalation.level(90, PACKAGE.escalation) == "on-call engineer"
    # the checklist: only its items, in its order
    verdicts = run_checklist(_NoReplicas(), Measurements(), Settings(), runbook.checklist)  # type: ignore[arg-type]
    assert [v.item for v in verdicts] == ["error-rate", "pods-running"]
    # the notice, the symptoms an outage must show, the alert that pages
    notice = messages.stakeholder_notice(runbook.notice.subject, runbook.notice.body, "shop", "all-pods-down", 0)
    assert notice["subject"] == "P1 - Partial Outage" and notice["body"] == "Some users see errors."
    assert symptoms.missing({symptoms.LB_5XX: True}, runbook.symptoms) == []
    assert symptoms.missing({symptoms.LB_5XX: True}, PACKAGE.symptoms) != []
    profile = Settings().service
    assert runbook.paging_alert_name(profile) == profile.alerts.latency != PACKAGE.paging_alert_name(profile)


def test_alerts_link_to_the_runbook_relative_to_this_tree_else_by_its_absolute_path(tmp_path: Path) -> None:
    assert PACKAGE.alert_link() == RunbookLink(PACKAGE.title, "runbooks/service-outage/service-outage.md")
    outside = find("service-outage", cwd=_copy(tmp_path, {"title": "Shop down"}))  # a team's package elsewhere
    assert outside.alert_link() == RunbookLink("Shop down", str(outside.markdown))
    assert outside.markdown.is_absolute() and outside.markdown.is_relative_to(tmp_path)


def test_a_runbook_finds_its_experiments_at_the_top_level_by_its_name() -> None:
    assert PACKAGE.experiments_dir == ROOT / "experiments" / "service-outage"
    assert PACKAGE.features_dir == ROOT / "features" / "service-outage"
    assert owning(PACKAGE.experiments_dir / "all-pods-down.json") == PACKAGE


def test_run_runbook_picks_the_runbook_a_game_day_follows() -> None:
    settings = Settings()
    chosen = following(settings, "database-connection-issues").service
    assert chosen.runbook == "database-connection-issues"  # the game day's catalogue, checklist, ... follow it
    assert following(settings, settings.service.runbook).service.runbooks == settings.service.runbooks

