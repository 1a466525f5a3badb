"""The local target's monitoring programs and the configuration they are given (nothing is started)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from gameday.profile import load as load_profile
from gameday.state import StateDir
from gameday.targets.local import monitoring
from gameday.targets.local.programs import StackContext
from gameday.targets.local.service import Service
from gameday.targets.model import TargetError
from tests.helpers import runbook_link

BINARIES = ("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")
needs_binaries = pytest.mark.skipif(
    any(shutil.which(b) is None for b in BINARIES),
    reason="Prometheus, Alertmanager or the blackbox exporter not installed (Debian packages prometheus, "
    "prometheus-alertmanager, prometheus-blackbox-exporter)",
)


@pytest.fixture
def ctx(tmp_path: Path) -> StackContext:
    names = ["replica-0", "replica-1", "replica-2"]
    keys = ["load-balancer", "haproxy-metrics", *names, *monitoring.PORT_KEYS]
    ports = {key: 20000 + i for i, key in enumerate(keys)}
    state = StateDir(tmp_path / "state").ensure()
    service = Service(load_profile(), state, ports, sys.executable)
    return StackContext(state=state, ports=ports, replica_names=names, python=sys.executable, service=service,
                        runbook=runbook_link(service.profile))


def test_configs(ctx: StackContext) -> None:
    paths = monitoring.write_configs(ctx)
    prom = yaml.safe_load(paths["prometheus"].read_text())
    assert prom["global"]["scrape_interval"] == "1s" and prom["global"]["evaluation_interval"] == "1s"
    jobs = {job["job_name"]: job for job in prom["scrape_configs"]}
    assert {"ecommerce-backend", "haproxy", "blackbox", "prometheus", "alertmanager"} <= set(jobs)
    assert jobs["haproxy"]["static_configs"][0]["targets"] == [f"127.0.0.1:{ctx.ports['haproxy-metrics']}"]
    lb = ctx.ports["load-balancer"]
    probe = jobs["blackbox"]
    assert probe["static_configs"][0]["targets"] == [f"http://127.0.0.1:{lb}/api/products",
                                                      f"http://127.0.0.1:{lb}/healthz"]
    assert probe["static_configs"][0]["labels"] == {"service": "ecommerce-backend"}  # what the rules select
    assert probe["scrape_interval"] == "1s"  # as often as the rules are evaluated: the alert lags one interval
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{ctx.ports['alertmanager']}"
    ]
    assert prom["rule_files"] == [str(paths["rules"].parent / "*.yml")]

    replicas = json.loads(paths["replica_targets"].read_text())
    assert [t["targets"] for t in replicas] == [[a] for a in ctx.replica_addresses]
    assert [t["labels"]["replica"] for t in replicas] == ctx.replica_names

    am = yaml.safe_load(paths["alertmanager"].read_text())
    assert am["route"]["group_wait"] == "1s" and am["route"]["group_interval"] == "1s"
    hook = am["receivers"][0]["webhook_configs"][0]
    assert hook["url"] == f"http://127.0.0.1:{ctx.ports['alert-receiver']}/alerts"
    assert hook["send_resolved"] is True

    rules = yaml.safe_load(paths["rules"].read_text())
    down = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "APIEndpointDown")
    assert down["for"] == "15s"

    text = "".join(p.read_text() for p in paths.values())
    assert "0.0.0.0" not in text and "localhost" not in text


def test_slow_scrapes_widen_the_rate_windows(ctx: StackContext) -> None:
    paths = monitoring.write_configs(ctx, scrape_interval="5s", probe_interval="2s")
    assert "[20s]" in paths["rules"].read_text() and "[10s]" not in paths["rules"].read_text()
    prom = yaml.safe_load(paths["prometheus"].read_text())
    assert next(j for j in prom["scrape_configs"] if j["job_name"] == "blackbox")["scrape_interval"] == "5s"


def test_replica_targets_follow_the_replica_set(ctx: StackContext) -> None:
    monitoring.write_configs(ctx)
    smaller = StackContext(state=ctx.state, ports=ctx.ports, replica_names=["replica-0"], python=ctx.python,
                           service=ctx.service, runbook=ctx.runbook)
    path = monitoring.write_replica_targets(smaller)
    assert [t["labels"]["replica"] for t in json.loads(path.read_text())] == ["replica-0"]


def test_missing_ports_are_named(ctx: StackContext) -> None:
    ports = {k: v for k, v in ctx.ports.items() if k != "alert-receiver"}
    bad = StackContext(state=ctx.state, ports=ports, replica_names=ctx.replica_names, python=ctx.python,
                       service=ctx.service, runbook=ctx.runbook)
    with pytest.raises(TargetError, match="alert-receiver"):
        monitoring.write_configs(bad)


@needs_binaries
def test_programs(ctx: StackContext) -> None:
    programs = {p.name: p for p in monitoring.programs(ctx)}
    assert set(programs) == {"prometheus", "alertmanager", "blackbox", "alert-receiver"}
    state_root = str(ctx.state.root)
    for name, program in programs.items():
        assert Path(program.command[0]).is_absolute(), name
        assert program.port == ctx.ports[name]
        assert program.readiness.startswith("http:/"), name
        for arg in program.command:
            if arg.startswith("--web.listen-address="):
                assert arg == f"--web.listen-address=127.0.0.1:{program.port}"
            if arg.startswith(("--storage.tsdb.path=", "--storage.path=", "--config.file=")):
                assert arg.split("=", 1)[1].startswith(state_root), arg
    assert programs["prometheus"].readiness == "http:/-/ready"
    assert programs["alertmanager"].readiness == "http:/-/ready"
    assert "--cluster.listen-address=" in programs["alertmanager"].command
    receiver = programs["alert-receiver"]
    assert receiver.command[:3] == [sys.executable, "-m", "gameday.alerts.receiver"]
    assert str(monitoring.received_alerts_path(ctx.state)) in receiver.command
    assert receiver.readiness == "http:/healthz"
    assert min(p.priority for p in programs.values()) >= monitoring.PRIORITY
