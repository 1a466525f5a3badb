"""The Operations Dashboard (deploy/monitoring/dashboards): structure, PromQL that parses, known metrics only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
DASHBOARD = MONITORING / "dashboards" / "operations-dashboard.json"
RULES = MONITORING / "rules" / "ecommerce-backend.rules.yml"

# Every metric the dashboard and the rules may use, by where it comes from.
SERVICE_METRICS = {  # each replica's /metrics (sut/)
    "http_requests_total", "http_request_duration_seconds_bucket", "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count", "dependency_up", "circuit_breaker_open", "outbox_pending", "app_info",
    "app_ready",
}
HAPROXY_METRICS = {  # HAProxy 2.6's built-in exporter (names checked against a running haproxy 2.6)
    "haproxy_frontend_http_responses_total", "haproxy_frontend_http_requests_total",
    "haproxy_backend_http_responses_total", "haproxy_backend_active_servers",
    "haproxy_backend_response_time_average_seconds", "haproxy_server_status",
}
BLACKBOX_METRICS = {"probe_success", "probe_duration_seconds", "probe_http_status_code"}
PROMETHEUS_METRICS = {"up", "ALERTS", "ALERTS_FOR_STATE"}
KNOWN_METRICS = SERVICE_METRICS | HAPROXY_METRICS | BLACKBOX_METRICS | PROMETHEUS_METRICS

KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring",
            "group_left", "group_right", "atan2"}
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "15m", "${__range}": "15m"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a small tokenizer, enough for these expressions)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery windows
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name in KEYWORDS:
            continue  # a function or aggregation, or a keyword
        names.add(name)
    return names


def substitute_variables(expr: str) -> str:
    """The expression with Grafana's interval variables replaced by durations, as Grafana does."""
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr) of every PromQL expression: panel targets and annotation queries."""
    out = []
    for panel in all_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            out.append((f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            out.append((f"annotation {annotation['name']!r}", annotation["expr"]))
    return out


def test_metadata(dashboard: dict[str, Any]) -> None:
    assert dashboard["title"] == "Operations Dashboard"  # the runbook's name for it
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 30
    assert dashboard["uid"] and len(dashboard["uid"]) <= 40
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_panel_ids_unique_and_laid_out(dashboard: dict[str, Any]) -> None:
    panels = list(all_panels(dashboard["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    for panel in panels:
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid), panel["title"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_every_panel_has_targets(dashboard: dict[str, Any]) -> None:
    for panel in all_panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel.get("title"), panel["id"]
        assert panel.get("targets"), f"panel {panel['title']!r} has no targets"
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), f"panel {panel['title']!r} {target['refId']} has no expression"


def test_dashboard_covers_the_runbook_views(dashboard: dict[str, Any]) -> None:
    titles = " | ".join(p["title"].lower() for p in all_panels(dashboard["panels"]))
    for needle in ("request rate", "error ratio", "p95", "active servers", "ready replicas", "dependency",
                   "alerts"):
        assert needle in titles, f"no panel about {needle!r}"


def test_metrics_are_known(dashboard: dict[str, Any]) -> None:
    for where, expr in expressions(dashboard):
        unknown = metric_names(expr) - KNOWN_METRICS
        assert not unknown, f"{where}: unknown metrics {sorted(unknown)}"


def test_rules_use_known_metrics() -> None:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            unknown = metric_names(rule["expr"]) - KNOWN_METRICS
            assert not unknown, f"{rule.get('alert')}: unknown metrics {sorted(unknown)}"


def test_metric_name_tokenizer() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket'
        '{job="ecommerce-backend", route=~"/api/.*"}[1m]))) > bool 0.5 or on(x) up{a="b or c"} offset 5m'
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "up"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)")
def test_expressions_parse(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule."""
    exprs = expressions(dashboard)
    rules = [{"record": f"dashboard:expr_{i}", "expr": substitute_variables(e)} for i, (_, e) in enumerate(exprs)]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr + "\n" + "\n".join(f"{i}: {w}" for i, (w, _)
                                                                                  in enumerate(exprs))
