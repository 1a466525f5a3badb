"""The alerting rules of deploy/monitoring: promtool checks and unit tests, and the generated files in sync."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gameday.alerts import rules

MONITORING = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package prometheus): rule checks and unit tests skipped"
)
RULE_TESTS = sorted((MONITORING / "tests").glob("*.test.yml"))


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=120)


@needs_promtool
@pytest.mark.parametrize("path", [rules.rules_path(), rules.local_rules_path()], ids=["shipped", "local"])
def test_promtool_check_rules(path: Path) -> None:
    result = _run("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_are_unit_tests_for_both_profiles() -> None:
    names = {p.name for p in RULE_TESTS}
    assert {"ecommerce-backend.test.yml", "ecommerce-backend.local.test.yml"} <= names


@needs_promtool
@pytest.mark.parametrize("path", RULE_TESTS, ids=[p.name for p in RULE_TESTS])
def test_promtool_unit_tests(path: Path) -> None:
    result = _run("test", "rules", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_files_are_in_sync() -> None:
    for path, text in rules.generated_files().items():
        assert path.exists(), f"{path} missing: python -m gameday.alerts.rules write"
        assert path.read_text() == text, f"{path} stale: python -m gameday.alerts.rules write"
    assert rules.main(["check"]) == 0


def test_prometheusrule_has_the_same_rules() -> None:
    source = yaml.safe_load(rules.rules_path().read_text())
    manifest = yaml.safe_load(rules.prometheusrule_path().read_text())
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["metadata"]["name"] == "ecommerce-backend"
    assert manifest["metadata"]["labels"]["release"]
    assert manifest["spec"]["groups"] == source["groups"]


def _alerts(path: Path) -> dict[str, dict]:
    return rules.alert_rules(yaml.safe_load(path.read_text()))


def test_rule_labels_and_annotations() -> None:
    alerts = _alerts(rules.rules_path())
    assert {"APIEndpointDown", "HighErrorRatio", "HighLatencyP95", "DependencyDown"} <= set(alerts)
    assert alerts["APIEndpointDown"]["labels"]["severity"] == "critical"
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["labels"]["service"] == "ecommerce-backend", name
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
        assert rule["annotations"]["runbook_url"].endswith("docs/runbooks/service-outage.md"), name
        assert rule.get("for"), f"{name} has no for: window"


def test_shipped_windows_are_realistic_and_local_ones_short() -> None:
    shipped, local = _alerts(rules.rules_path()), _alerts(rules.local_rules_path())
    assert shipped["APIEndpointDown"]["for"] == "1m"
    assert local["APIEndpointDown"]["for"] == "15s"
    assert "[10s]" in local["APIEndpointDown"]["expr"]
    for name in shipped:
        assert rules.parse_duration(local[name]["for"]) < rules.parse_duration(shipped[name]["for"]), name


def test_local_profile_changes_only_windows() -> None:
    shipped, local = _alerts(rules.rules_path()), _alerts(rules.local_rules_path())
    assert set(shipped) == set(local)
    for name in shipped:
        def strip(expr: str) -> str:
            return rules.RANGE_SELECTOR.sub("[]", expr)

        assert strip(local[name]["expr"]) == strip(shipped[name]["expr"]), name
        assert local[name]["labels"] == shipped[name]["labels"], name
        assert local[name]["annotations"] == shipped[name]["annotations"], name


def test_apply_profile_refuses_missing_and_unknown_alerts() -> None:
    source = yaml.safe_load(rules.rules_path().read_text())
    profile = yaml.safe_load((MONITORING / "profiles" / "local.yml").read_text())
    missing = {"alerts": {k: v for k, v in profile["alerts"].items() if k != "HighErrorRatio"}}
    with pytest.raises(ValueError, match="HighErrorRatio"):
        rules.apply_profile(source, missing)
    unknown = {"alerts": {**profile["alerts"], "NoSuchAlert": {"for": "1s"}}}
    with pytest.raises(ValueError, match="NoSuchAlert"):
        rules.apply_profile(source, unknown)


def test_apply_profile_raises_short_ranges_to_the_minimum() -> None:
    source = yaml.safe_load(rules.rules_path().read_text())
    profile = yaml.safe_load((MONITORING / "profiles" / "local.yml").read_text())
    slow = rules.alert_rules(rules.apply_profile(source, profile, min_range_seconds=20))
    assert set(re.findall(r"\[([^\]]+)\]", slow["APIEndpointDown"]["expr"])) == {"20s"}
    assert set(re.findall(r"\[([^\]]+)\]", slow["HighErrorRatio"]["expr"])) == {"20s"}


@pytest.mark.parametrize(
    ("text", "seconds"), [("1s", 1), ("15s", 15), ("1m", 60), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert rules.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "s", "1.5s", "1m 2s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        rules.parse_duration(text)


def test_format_duration() -> None:
    assert rules.format_duration(15) == "15s"
    assert rules.format_duration(0.5) == "500ms"
    with pytest.raises(ValueError):
        rules.format_duration(0)


def test_alertmanager_example_has_no_secrets() -> None:
    text = (MONITORING / "alertmanager.example.yml").read_text()
    assert "hooks.slack.com/services/T" not in text
    config = yaml.safe_load(text)
    for receiver in config["receivers"]:
        for pd in receiver.get("pagerduty_configs", []):
            assert "routing_key" not in pd and "service_key" not in pd, "PagerDuty key must come from a file"
        for slack in receiver.get("slack_configs", []):
            assert "api_url" not in slack, "Slack URL must come from a file"
    assert "slack_api_url" not in config.get("global", {})


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed (prometheus-alertmanager)")
def test_alertmanager_example_is_valid() -> None:
    result = subprocess.run(
        ["amtool", "check-config", str(MONITORING / "alertmanager.example.yml")],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
