"""The real ``chaostoolkit-toxiproxy`` extension, unchanged, drives the fault proxy: its actions and probes called as
chaostoolkit calls them (with a ``configuration`` holding ``toxiproxy_host``/``toxiproxy_port``, the keys
``chaostoxi.toxiproxyapi.build_baseUrl`` reads), and a whole chaostoolkit experiment run by chaoslib, each checked by
its effect on real traffic through the proxy.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from chaoslib.experiment import run_experiment
from chaostoxi.proxy import actions as proxy_actions
from chaostoxi.proxy import probes as proxy_probes
from chaostoxi.toxic import actions as toxic_actions

from tests.test_fault_proxy import (  # noqa: F401  (fixtures)
    FaultProxy,
    clean_proxies,
    closed_by_peer,
    connect,
    echo,
    fault_proxy,
    round_trip,
)


def toxiproxy_configuration(api: FaultProxy) -> dict[str, Any]:
    return {"toxiproxy_host": "127.0.0.1", "toxiproxy_port": api.port}


def test_extension_actions_and_probes_drive_the_proxy(fault_proxy: FaultProxy, echo: str) -> None:  # noqa: F811
    configuration = toxiproxy_configuration(fault_proxy)
    upstream_host, upstream_port = echo.rsplit(":", 1)
    # its defaults (listen on 0.0.0.0, port 0) work: the proxy listens on loopback and reports the real port
    assert proxy_actions.create_proxy("ctk_echo", upstream_host, int(upstream_port), configuration=configuration)
    port = int(configuration["ctk_echo_PORT"])
    listen = f"127.0.0.1:{port}"
    assert proxy_probes.proxy_exist("ctk_echo", configuration=configuration) is True
    assert proxy_probes.get_proxy_attribute("ctk_echo", "upstream", configuration=configuration) == echo

    with connect(listen) as live:
        round_trip(live)
        assert toxic_actions.create_latency_toxic("ctk_echo", "lag", latency=200, configuration=configuration)
        assert round_trip(live) >= 0.18
        assert toxic_actions.delete_toxic("ctk_echo", "lag", configuration=configuration)
        assert round_trip(live) < 0.18

    assert toxic_actions.create_limiter_toxic("ctk_echo", "cap", bytes_limit=4, configuration=configuration)
    with connect(listen) as sock:
        sock.sendall(b"abcdefgh")
        received = b""
        while chunk := sock.recv(100):
            received += chunk
        assert received == b"abcd"
    assert proxy_actions.reset(configuration=configuration)
    assert proxy_probes.get_proxy_attribute("ctk_echo", "toxics", configuration=configuration) == []

    assert toxic_actions.create_timeout_toxic("ctk_echo", "hole", timeout=0, configuration=configuration)
    with connect(listen, timeout=0.3) as sock:
        sock.sendall(b"anyone?")
        with pytest.raises(TimeoutError):
            sock.recv(100)
    assert toxic_actions.delete_toxic("ctk_echo", "hole", configuration=configuration)

    with connect(listen) as live:
        assert proxy_actions.disable_proxy("ctk_echo", configuration=configuration)
        assert closed_by_peer(live)
    with pytest.raises(ConnectionRefusedError):
        connect(listen)
    assert proxy_actions.enable_proxy("ctk_echo", configuration=configuration)
    with connect(listen) as sock:
        round_trip(sock)

    proxy_actions.delete_proxy("ctk_echo", configuration=configuration)
    assert proxy_probes.proxy_exist("ctk_echo", configuration=configuration) is False
    with pytest.raises(ConnectionRefusedError):
        connect(listen)


def echo_round_trip_seconds(port: str) -> float:
    """A chaostoolkit probe (python provider): one round trip through the proxy to the echo server."""
    with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as sock:
        return round_trip(sock)


def test_a_chaostoolkit_experiment_with_the_extension_runs_against_the_proxy(
        fault_proxy: FaultProxy, echo: str) -> None:  # noqa: F811
    fault_proxy.create("ctk_exp", echo)
    port = fault_proxy.call("GET", "/proxies/ctk_exp")[1]["listen"].rsplit(":", 1)[1]
    ext = {"type": "python", "module": "chaostoxi.toxic.actions"}
    probe = {"type": "python", "module": __name__, "func": "echo_round_trip_seconds", "arguments": {"port": port}}
    experiment = {
        "title": "an echo server answers within 150 ms even when its network is 300 ms slow",
        "description": "the fault proxy, driven by chaostoolkit-toxiproxy",
        "configuration": toxiproxy_configuration(fault_proxy),
        "steady-state-hypothesis": {
            "title": "fast echo",
            "probes": [{"type": "probe", "name": "round-trip", "provider": probe, "tolerance": {
                "type": "range", "range": [0, 0.15]}}],
        },
        "method": [
            {"type": "action", "name": "slow-network", "provider": {
                **ext, "func": "create_latency_toxic",
                "arguments": {"for_proxy": "ctk_exp", "toxic_name": "slow", "latency": 300}}},
            {"type": "probe", "name": "round-trip-under-latency", "provider": probe},
        ],
        "rollbacks": [
            {"type": "action", "name": "heal-network", "provider": {
                **ext, "func": "delete_toxic", "arguments": {"for_proxy": "ctk_exp", "toxic_name": "slow"}}},
        ],
    }
    journal = run_experiment(experiment, settings={})
    runs = {run["activity"]["name"]: run for run in journal["run"]}
    assert runs["slow-network"]["status"] == "succeeded" and runs["slow-network"]["output"] is True
    assert runs["round-trip-under-latency"]["output"] >= 0.27
    # the hypothesis, checked again after the method, deviates: the latency broke it, as it must
    assert journal["deviated"] is True
    assert [p["tolerance_met"] for p in journal["steady_states"]["after"]["probes"]] == [False]
    assert journal["rollbacks"][0]["status"] == "succeeded"
    assert fault_proxy.call("GET", "/proxies/ctk_exp/toxics") == (200, [])
    assert echo_round_trip_seconds(port) < 0.15
