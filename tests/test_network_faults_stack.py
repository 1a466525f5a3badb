"""The network faults on the local stack: every replica's dependency traffic goes through the fault proxy, each
fault is injected and undone through ``gameday inject`` and the ledger (and by ``abort`` after its run was
SIGKILLed), bad parameters are refused before anything is recorded, and the diagnosis names a blackholed
dependency from what the runbook's step 3 observes from the replicas' side."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gameday.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _gameday(state: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "GAMEDAY_STATE_DIR": str(state)})


def _proxies(target: Any) -> dict[str, Any]:
    status = target.status().to_dict()["fault_proxy"]
    return {p["name"]: p for p in status["proxies"]}


def _elapsed(url: str) -> float:
    started = time.monotonic()
    httpx.get(url, timeout=10)
    return time.monotonic() - started


def _until(condition: Any, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)  # poll
    return bool(condition())


def test_every_replica_reaches_its_dependencies_through_the_fault_proxy(healthy: Any) -> None:
    stack = healthy.stack
    proxies = _proxies(healthy)
    assert sorted(proxies) == sorted(d.name for d in healthy.profile.dependencies)
    for name, proxy in proxies.items():
        assert proxy["listen"] == f"127.0.0.1:{stack['ports'][f'fault-proxy:{name}']}"
        assert proxy["upstream"] == f"127.0.0.1:{stack['ports'][name]}" and proxy["enabled"]
    status = healthy.status().to_dict()["fault_proxy"]
    assert status["pid"] and status["api_port"] == stack["ports"]["fault-proxy"]
    # the broker advertises the proxy: a Kafka client's connections after bootstrap go through it too
    kafka = next(p for p in stack["programs"] if p["name"] == "kafka")
    assert f"tcp://127.0.0.1:{stack['ports']['fault-proxy:kafka']}" in kafka["command"]
    # a latency toxic on postgres shows in a request that needs the database, not in one that does not
    base = stack["load_balancer_url"]
    needs_db, no_db = f"{base}/api/products/2147483647", f"{base}/healthz"
    healthy.add_toxic("postgres", {"name": "probe-latency", "type": "latency", "attributes": {"latency": 600}})
    try:
        slow = min(_elapsed(needs_db) for _ in range(3))
        fast = min(_elapsed(no_db) for _ in range(3))
    finally:
        healthy.remove_toxic("postgres", "probe-latency")
    assert slow >= 0.6 > fast, (slow, fast)
    assert _proxies(healthy)["postgres"]["toxics"] == []


@pytest.mark.parametrize(("fault", "params", "toxic"), [
    ("dependency-latency", ["ms=200", "jitter=20"], {"type": "latency", "attributes": {"latency": 200, "jitter": 20}}),
    ("dependency-blackhole", [], {"type": "timeout", "attributes": {"timeout": 0}}),
    ("dependency-flaky", ["fraction=0.2"], {"type": "reset_peer", "toxicity": 0.2}),
    ("dependency-bandwidth", ["rate=50"], {"type": "bandwidth", "attributes": {"rate": 50}}),
    ("dependency-partition", [], None),
])
def test_each_network_fault_is_recorded_applied_and_undone(healthy: Any, fault: str, params: list[str],
                                                           toxic: dict[str, Any] | None) -> None:
    state = healthy.state.root
    flags = [x for p in ["dependency=redis", *params] for x in ("-p", p)]
    dry = _gameday(state, "inject", fault, *flags, "--dry-run")
    if dry.returncode == 0:  # where inject offers --dry-run, it names the link and changes nothing
        assert "redis" in dry.stdout and not _proxies(healthy)["redis"]["toxics"]
    done = _gameday(state, "inject", fault, *flags)
    assert done.returncode == 0, done.stderr
    entries = Ledger(healthy.state.ledger).entries()
    assert [(e.fault, e.params["dependency"]) for e in entries] == [(fault, "redis")]
    redis = _proxies(healthy)["redis"]
    if toxic is None:
        assert redis["enabled"] is False
        assert not healthy.check_dependency("redis").ok  # refused from the replicas' side
    else:
        (added,) = redis["toxics"]
        assert added["name"] == f"gameday-{fault}" and added["type"] == toxic["type"]
        assert toxic.get("attributes", {}).items() <= added["attributes"].items()
        assert added["toxicity"] == toxic.get("toxicity", 1.0)
    undone = _gameday(state, "abort")
    assert undone.returncode == 0, undone.stderr
    assert Ledger(healthy.state.ledger).empty()
    redis = _proxies(healthy)["redis"]
    assert redis["enabled"] and redis["toxics"] == []
    assert healthy.check_dependency("redis").ok


@pytest.mark.parametrize(("fault", "params", "said"), [
    ("dependency-latency", ["ms=-5"], "ms: Input should be greater than or equal to 1"),
    ("dependency-latency", ["ms=100", "jitter=500"], "jitter (500 ms) must not exceed ms (100 ms)"),
    ("dependency-flaky", ["fraction=1.5"], "fraction: Input should be less than or equal to 1"),
    ("dependency-bandwidth", ["rate=0"], "rate: Input should be greater than or equal to 1"),
    ("dependency-blackhole", ["dependency=mysql"], "has no dependency 'mysql'"),
    ("dependency-partition", ["dependency=redis", "for=3"], "unknown parameter 'for'"),
])
def test_bad_parameters_are_one_line_and_nothing_is_recorded(healthy: Any, fault: str, params: list[str],
                                                             said: str) -> None:
    if not any(p.startswith("dependency=") for p in params):
        params = ["dependency=redis", *params]
    run = _gameday(healthy.state.root, "inject", fault, *(x for p in params for x in ("-p", p)))
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and said in run.stderr, run.stderr
    assert Ledger(healthy.state.ledger).empty()
    assert all(p["enabled"] and not p["toxics"] for p in _proxies(healthy).values())


def test_abort_after_a_sigkilled_run_lifts_the_fault_and_resets_the_proxy(healthy: Any) -> None:
    script = ("import select, sys; from gameday import faults; from gameday.config import get_settings;"
              "from gameday.ledger import Ledger; from gameday.targets.local.target import LocalTarget;"
              "t = LocalTarget(get_settings()); faults.inject(t, Ledger(t.state.ledger), 'dependency-blackhole',"
              "{'dependency': 'postgres'}); print('in', flush=True); select.select([sys.stdin], [], [], 300)")
    # it holds the fault until killed (at most 300 s, or until this test, its stdin's writer, is gone)
    run = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                           cwd=ROOT, env={**os.environ, "GAMEDAY_STATE_DIR": str(healthy.state.root)})
    try:
        assert run.stdout is not None and run.stdout.readline().strip() == "in"
        # someone else's toxic on redis too: abort's reset leaves no toxic behind whoever added it
        healthy.add_toxic("redis", {"name": "by-hand", "type": "latency", "attributes": {"latency": 50}})
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
    assert [e.fault for e in Ledger(healthy.state.ledger).entries()] == ["dependency-blackhole"]
    assert _proxies(healthy)["postgres"]["toxics"]
    done = _gameday(healthy.state.root, "abort")
    assert done.returncode == 0, done.stderr
    assert Ledger(healthy.state.ledger).empty()
    assert all(p["enabled"] and not p["toxics"] for p in _proxies(healthy).values())


@pytest.mark.parametrize(("dependency", "verdict"), [("postgres", "dependency-hang:postgres"),
                                                     ("redis", "dependency-degraded:redis")])
def test_diagnose_names_a_blackholed_dependency(healthy: Any, dependency: str, verdict: str) -> None:
    # redis: ecommerce-backend survives it (on_outage degraded) and serves on; still named by name
    ledger = Ledger(healthy.state.ledger)
    from gameday import faults

    entry = faults.inject(healthy, ledger, "dependency-blackhole", {"dependency": dependency}, healthy.profile)
    try:
        run = _gameday(healthy.state.root, "diagnose", "--json")  # what on-call runs
        assert run.returncode == 0, run.stderr
        found = json.loads(run.stdout)
        check = next(c for c in found["evidence"]["dependencies"] if c["name"] == dependency)
        assert not check["ok"] and "no answer within" in check["detail"], check
        assert found["verdict"]["key"] == verdict, found["verdict"]["summary"]
    finally:
        faults.undo(healthy, ledger, entry)
    assert _until(lambda: healthy.check_dependency(dependency).ok, 10)


def test_status_json_lists_the_fault_proxy(healthy: Any) -> None:
    run = _gameday(healthy.state.root, "status", "--json")
    assert run.returncode == 0, run.stderr
    proxy = json.loads(run.stdout)["fault_proxy"]
    assert proxy["pid"] > 0 and proxy["api_port"] == healthy.stack["ports"]["fault-proxy"]
    assert {p["name"] for p in proxy["proxies"]} == {d.name for d in healthy.profile.dependencies}
    assert all({"listen", "upstream", "enabled", "toxics"} <= set(p) for p in proxy["proxies"])
