"""The alerting rules of deploy/monitoring: promtool checks and unit tests, and the generated files in sync."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gameday import alerts_cli
from gameday.alerts import rules
from gameday.profile import DEFAULT_PROFILE, Profile
from gameday.profile import load as load_profile
from tests.helpers import runbook_link

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "deploy" / "monitoring"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package prometheus): rule checks and unit tests skipped"
)
RULE_TESTS = sorted((MONITORING / "tests").glob("*.test.yml"))


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=120)


PROFILE = load_profile(DEFAULT_PROFILE)
# a service that is not the reference one: other name, paths, alert names and SLOs, Redis critical, no Kafka
TICKETS = Profile.model_validate({
    "service": {"name": "ticket-office", "health_path": "/_status/live", "readiness_path": "/_status/ready",
                "metrics": {"path": "/_status/metrics"}},
    "dependencies": [{"name": "db", "kind": "postgres"}, {"name": "sessions", "kind": "redis"}],
    "endpoints": [{"name": "events", "path": "/v2/events"}],
    "slo": {"max_error_rate": 0.005, "p95_ms": 250},
    "alerts": {"endpoint_down": "TicketOfficeDown", "error_ratio": "TicketOfficeErrors",
               "latency": "TicketOfficeSlow"},
})


@needs_promtool
@pytest.mark.parametrize("path", [rules.rules_path(PROFILE), rules.local_rules_path(PROFILE)], ids=["shipped", "local"])
def test_promtool_check_rules(path: Path) -> None:
    result = _run("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_are_unit_tests_for_both_windows() -> None:
    names = {p.name for p in RULE_TESTS}
    assert {"ecommerce-backend.test.yml", "ecommerce-backend.local.test.yml"} <= names


@needs_promtool
@pytest.mark.parametrize("path", RULE_TESTS, ids=[p.name for p in RULE_TESTS])
def test_promtool_unit_tests(path: Path) -> None:
    result = _run("test", "rules", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_files_are_in_sync() -> None:
    for path, text in rules.generated_files(PROFILE, runbook_link(PROFILE)).items():
        assert path.exists(), f"{path} missing: python -m gameday.alerts_cli write"
        assert path.read_text() == text, f"{path} stale: python -m gameday.alerts_cli write"
    assert alerts_cli.main(["check"]) == 0


def test_prometheusrule_has_the_same_rules() -> None:
    source = yaml.safe_load(rules.rules_path(PROFILE).read_text())
    manifest = yaml.safe_load(rules.prometheusrule_path().read_text())
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["metadata"]["name"] == "ecommerce-backend"
    assert manifest["metadata"]["namespace"] == PROFILE.kubernetes.namespace
    assert manifest["metadata"]["labels"]["release"]
    assert manifest["spec"]["groups"] == source["groups"]


def _alerts(path: Path) -> dict[str, dict]:
    return rules.alert_rules(yaml.safe_load(path.read_text()))


def test_rule_names_labels_and_annotations_come_from_the_profile() -> None:
    alerts = _alerts(rules.rules_path(PROFILE))
    names = PROFILE.alerts
    assert {names.endpoint_down, names.error_ratio, names.latency, "DependencyDown"} <= set(alerts)
    assert alerts[names.endpoint_down]["labels"]["severity"] == "critical"
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["labels"]["service"] == "ecommerce-backend", name
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
        assert rule["annotations"]["runbook_url"] == "runbooks/service-outage/service-outage.md", name
        assert (ROOT / rule["annotations"]["runbook_url"]).exists(), name
        assert rule.get("for"), f"{name} has no for: window"


def test_shipped_windows_are_realistic_and_local_ones_short() -> None:
    shipped, local = _alerts(rules.rules_path(PROFILE)), _alerts(rules.local_rules_path(PROFILE))
    down = PROFILE.alerts.endpoint_down
    assert shipped[down]["for"] == "1m"
    assert local[down]["for"] == "15s"
    assert "[4s]" in local[down]["expr"]  # four scrapes: the `for:` rides out blips, the range need not
    for name in shipped:
        assert rules.parse_duration(local[name]["for"]) < rules.parse_duration(shipped[name]["for"]), name


def test_local_windows_change_only_windows() -> None:
    shipped, local = _alerts(rules.rules_path(PROFILE)), _alerts(rules.local_rules_path(PROFILE))
    assert set(shipped) == set(local)
    for name in shipped:
        def strip(expr: str) -> str:
            return rules.RANGE_SELECTOR.sub("[]", expr)

        assert strip(local[name]["expr"]) == strip(shipped[name]["expr"]), name
        assert local[name]["labels"] == shipped[name]["labels"], name
        assert local[name]["annotations"] == shipped[name]["annotations"], name


def test_local_rules_of_another_service_use_its_names_alerts_and_slos(tmp_path: Path) -> None:
    text = rules.local_rules(TICKETS, rules.RunbookLink("Ticket office down", "/srv/runbooks/ticket-office.md"))
    alerts = rules.alert_rules(yaml.safe_load(text))
    assert set(alerts) == {"TicketOfficeDown", "TicketOfficeErrors", "TicketOfficeSlow", "DependencyDown",
                           "CircuitBreakerOpen"}
    assert "ecommerce" not in text and "/api/" not in text
    assert 'probe_success{service="ticket-office"}' in alerts["TicketOfficeDown"]["expr"]
    assert 'proxy="ticket-office-lb"' in alerts["TicketOfficeDown"]["expr"]
    assert 'route!~"/_status/live|/_status/ready|/_status/metrics"' in alerts["TicketOfficeErrors"]["expr"]
    assert alerts["TicketOfficeErrors"]["expr"].rstrip().endswith("> 0.005")
    assert alerts["TicketOfficeSlow"]["expr"].rstrip().endswith("> 0.25")
    assert alerts["TicketOfficeSlow"]["annotations"]["summary"] == "ticket-office p95 latency above 250ms"
    assert 'dependency=~"db|sessions"' in alerts["DependencyDown"]["expr"]
    assert alerts["TicketOfficeDown"]["labels"] == {"severity": "critical", "service": "ticket-office"}
    assert alerts["TicketOfficeDown"]["annotations"]["runbook_url"] == "/srv/runbooks/ticket-office.md"
    if PROMTOOL is not None:
        path = tmp_path / rules.rules_name(TICKETS)
        path.write_text(text)
        result = _run("check", "rules", str(path))
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_profiles_own_rules_file_is_used_as_it_is(tmp_path: Path) -> None:
    own = tmp_path / "mine.rules.yml"
    own.write_text("groups: []\n")
    profile = TICKETS.model_copy(update={"alerts": TICKETS.alerts.model_copy(update={"rules": own.name}),
                                         "source": tmp_path / "gameday.yaml"})
    assert rules.local_rules(profile, runbook_link(profile)) == "groups: []\n"


def test_a_windows_file_must_give_every_rule_and_nothing_else(tmp_path: Path) -> None:
    local = yaml.safe_load((MONITORING / "profiles" / "local.yml").read_text())
    path = tmp_path / "windows.yml"
    path.write_text(yaml.safe_dump({"windows": {k: v for k, v in local["windows"].items() if k != "error_ratio"}}))
    with pytest.raises(ValueError, match="no windows for error_ratio"):
        rules.load_windows(path)
    path.write_text(yaml.safe_dump({"windows": {**local["windows"], "no_such_rule": {"for": "1s"}}}))
    with pytest.raises(ValueError, match="no_such_rule"):
        rules.load_windows(path)
    path.write_text(yaml.safe_dump({"windows": {**local["windows"], "latency": {"for": "30s"}}}))
    with pytest.raises(ValueError, match="latency needs 'for' and 'range'"):
        rules.load_windows(path)


def test_short_ranges_are_raised_to_the_minimum() -> None:
    windows = rules.load_windows(MONITORING / "profiles" / "local.yml", min_range_seconds=20)
    assert {w["range"] for w in windows.values() if "range" in w} == {"20s"}
    slow = rules.alert_rules(yaml.safe_load(rules.local_rules(PROFILE, runbook_link(PROFILE), min_range_seconds=20)))
    assert set(re.findall(r"\[([^\]]+)\]", slow[PROFILE.alerts.endpoint_down]["expr"])) == {"20s"}
    assert set(re.findall(r"\[([^\]]+)\]", slow[PROFILE.alerts.error_ratio]["expr"])) == {"20s"}


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
