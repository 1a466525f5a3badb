"""Runbook packages: found by name, their files and data, and the data agreeing with the code that reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gameday import symptoms
from gameday.errors import UsageError
from gameday.runbook.coverage import default_mapping_path, load_mapping
from gameday.runbook.package import MANIFEST, available, find, load, owning

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
    with pytest.raises(UsageError, match=r"^no runbook package 'nope': .* one of: service-outage"):
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


def test_the_data_agrees_with_the_code_and_the_coverage_map() -> None:
    from gameday.diagnose.rules import KINDS
    from gameday.notify.escalation import POLICY
    from gameday.verify.checklist import ITEMS

    manifest = PACKAGE.manifest
    ids = {entry.id for entry in load_mapping(PACKAGE.coverage)}
    assert [s.check for s in manifest.symptoms] == list(symptoms.OUTAGE)
    assert {c.check for c in manifest.checklist} <= set(ITEMS)
    assert [(s.after_minutes * 60, s.who) for s in manifest.escalation] == [(p.after_s, p.who) for p in POLICY]
    assert set(manifest.diagnosis) <= set(KINDS)
    named = [s.id for s in manifest.symptoms] + [c.id for c in manifest.checklist] + \
        [s.id for s in manifest.escalation] + list(manifest.diagnosis.values()) + \
        [c.covers for c in manifest.steady_state.checks if c.covers]
    assert set(named) <= ids, sorted(set(named) - ids)
