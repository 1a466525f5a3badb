"""The local target runs a service from its profile alone: setup, files, a password, external dependencies.

Each test runs a small stack of its own (no monitoring), so none of them disturbs the shared one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gameday.config import LocalSettings, Settings
from gameday.state import StateDir
from gameday.targets.local import stack as local_stack
from gameday.targets.local.service import proxy_port_name
from gameday.targets.local.target import LocalTarget
from gameday.targets.model import NotApplicableError, TargetError
from gameday.targets.probes import tcp_open
from tests.helpers import runbook_link, status_of, wait_for
from tests.local_profiles import ecommerce, ticket_office

pytestmark = pytest.mark.slow

PASSWORD = "tickets-pw-never-shown-51c9"


@pytest.fixture
def state_dir() -> Iterator[Path]:
    state = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="gameday-profile-"))
    state.chmod(0o755)
    yield state
    local_stack.down(Settings(state_dir=state))
    shutil.rmtree(state, ignore_errors=True)


def _settings(state: Path, profile: Path) -> Settings:
    return Settings(state_dir=state, profile=profile, local=LocalSettings(monitoring=False))


def _nothing_left(s: Settings, ports: dict[str, int]) -> bool:
    return not local_stack.stack_processes(StateDir(s.state_dir)) and not any(tcp_open(p) for p in ports.values())


def test_failed_setup_is_one_line_and_leaves_nothing_running(state_dir: Path, tmp_path: Path) -> None:
    failing = [["{python}", "-c", "import sys; print('relation already exists'); sys.exit(4)"]]
    s = _settings(state_dir, ecommerce(tmp_path, lambda data: data["local"].update(setup=failing, replicas=1)))
    with pytest.raises(TargetError) as caught:
        local_stack.up(s, timeout=60, runbook=runbook_link(s.service))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("setup command 1 ({python} -c ")
    assert "failed with exit 4: relation already exists" in message
    stack = local_stack.load_stack(StateDir(state_dir))
    assert stack is not None and _nothing_left(s, stack["ports"])  # the dependencies it started are gone again
    assert not (state_dir / "logs" / "replica-0.log").exists()  # no replica was ever started


def test_second_service_runs_from_its_profile_with_a_secret_password(state_dir: Path, tmp_path: Path,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv("TICKETS_DB_PASSWORD", PASSWORD)
    s = _settings(state_dir, ticket_office(tmp_path))
    stack = local_stack.up(s, runbook=runbook_link(s.service))
    monkeypatch.delenv("TICKETS_DB_PASSWORD")  # later commands find it in the state dir
    target = LocalTarget(s)
    base = target.base_url()
    assert status_of(base + "/_status/ready") == 200
    events = httpx.get(base + "/v2/events", timeout=3).json()["data"]
    assert events[0]["event_id"] == "evt-1"  # seeded by the setup command (migrate) before the replicas started
    login = httpx.post(base + "/v2/sessions", json={"user": "alice"}, timeout=3)
    assert login.status_code == 201  # Redis answers
    assert [d.name for d in target.dependency_states()] == ["postgres", "redis"]  # no Kafka
    assert {p["name"] for p in stack["programs"]} == {"postgres", "redis", "replica-0", "replica-1", "load-balancer",
                                                      "fault-proxy"}

    # the known-bad release: rendered into the replicas' TOML file at their restart
    target.deploy(target.bad_release(), wait=True, timeout=30)
    assert {r.version for r in target.replicas()} == {"2.0.0-bad"}
    wait_for(lambda: status_of(base + "/v2/events") == 500, 10, what="the bad release answers 500")
    target.rollout_undo(wait=True, timeout=30)
    wait_for(lambda: status_of(base + "/v2/events") == 200, 15, what="service back after rollout undo")

    # the bad config: the live configuration changes, replicas pick it up at their next start
    previous = target.apply_config(target.broken_config(), cause="test: bad config")
    target.rollout_restart(wait=False)
    wait_for(lambda: status_of(base + "/_status/ready") == 503, 20, what="not ready against 127.0.0.2")
    target.replace_config(previous, cause="test: restore")
    target.rollout_restart(wait=True, timeout=30)
    assert target.wait_healthy(timeout=30)

    status = json.dumps(target.status().to_dict(), default=str)
    shown = [status, json.dumps(previous), json.dumps(target.config()), json.dumps(target.stack)]
    shown += [p.read_text(errors="replace") for p in (state_dir / "logs").iterdir()]
    shown += [state_dir.joinpath(name).read_text() for name in ("supervisord.conf", "events.jsonl", "stack.json")]
    assert not [text for text in shown if PASSWORD in text]
    rendered = (state_dir / "replicas" / "replica-0" / "ticket-office.toml").read_text()
    assert PASSWORD in rendered  # ... while the service itself got it


def test_external_dependency_is_not_started_and_cannot_be_stopped(state_dir: Path, tmp_path: Path) -> None:
    closed = _closed_port()

    def external_kafka(data: dict) -> None:
        data["local"]["replicas"] = 1
        data["dependencies"][2]["address"] = f"127.0.0.1:{closed}"

    s = _settings(state_dir, ecommerce(tmp_path, external_kafka))
    stack = local_stack.up(s, runbook=runbook_link(s.service))
    target = LocalTarget(s)
    assert "kafka" not in {p["name"] for p in stack["programs"]} and "kafka" not in stack["ports"]
    assert status_of(target.base_url() + "/api/products") == 200  # Kafka is one it survives without
    kafka = next(d for d in target.dependency_states() if d.name == "kafka")
    assert (kafka.state, kafka.address) == ("external", f"127.0.0.1:{closed}")
    # the replicas reach it through the fault proxy, whose upstream is the external address
    assert target.config()["KAFKA_BOOTSTRAP"] == f"127.0.0.1:{stack['ports'][proxy_port_name('kafka')]}"
    proxied = {p["name"]: p["upstream"] for p in target.status().fault_proxy["proxies"]}
    assert proxied["kafka"] == f"127.0.0.1:{closed}"
    assert any(e.reason == "DependencyUnreachable" and e.object == "kafka" for e in target.events())
    with pytest.raises(NotApplicableError, match="kafka is external"):
        target.stop_dependency("kafka")
    assert not target.check_dependency("kafka").ok


def _closed_port() -> int:
    from gameday.targets.local.programs import free_port

    return free_port()
