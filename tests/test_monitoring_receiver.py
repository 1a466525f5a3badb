"""gameday's Alertmanager webhook receiver and the alerts client (no Prometheus needed)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gameday.alerts import client
from gameday.alerts.receiver import make_server
from gameday.alerts.rules import Selectors
from gameday.targets.local.programs import free_port
from tests.diagnose_fakes import PROFILE

SELECT = Selectors.of(PROFILE)


def _payload(status: str = "firing", alertname: str = "APIEndpointDown") -> dict[str, Any]:
    """An Alertmanager webhook payload (version 4) as Alertmanager 0.25 sends it."""
    ends = "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-26T10:01:00.5Z"
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + alertname + '"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "gameday",
        "groupLabels": {"alertname": alertname},
        "commonLabels": {"alertname": alertname, "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": alertname, "severity": "critical", "service": "ecommerce-backend"},
                "annotations": {"summary": "down", "runbook_url": "docs/runbooks/service-outage.md"},
                "startsAt": "2026-11-26T10:00:00.123456789Z",
                "endsAt": ends,
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": "0d9eb15685b88375",
            }
        ],
    }


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    path = tmp_path / "alerts.jsonl"
    server = make_server(free_port(), path)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_receiver_records_firing_and_resolved(receiver: tuple[str, Path]) -> None:
    url, path = receiver
    before = time.time()
    assert httpx.post(f"{url}/alerts", json=_payload("firing")).json() == {"received": 1}
    assert httpx.post(f"{url}/alerts", json=_payload("resolved")).status_code == 200
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["status"] for r in lines] == ["firing", "resolved"]
    assert lines[0]["labels"]["alertname"] == "APIEndpointDown"
    assert lines[0]["startsAt"] == "2026-11-26T10:00:00.123456789Z"
    assert lines[0]["receivedAtUnix"] >= before
    assert lines[0]["receivedAt"].endswith("Z")

    alerts = client.read_received_alerts(path)
    assert [a.status for a in alerts] == ["firing", "resolved"]
    assert alerts[0].ends_at is None  # Go's zero time: still firing
    assert alerts[1].ends_at == datetime(2026, 11, 26, 10, 1, 0, 500000, tzinfo=UTC)
    assert alerts[0].starts_at == datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)
    assert alerts[0].alertname == "APIEndpointDown"
    assert client.read_received_alerts(path, status="resolved")[0].status == "resolved"
    assert client.read_received_alerts(path, since=time.time() + 60) == []


def test_receiver_get_filters_and_health(receiver: tuple[str, Path]) -> None:
    url, _ = receiver
    httpx.post(f"{url}/alerts", json=_payload("firing", "APIEndpointDown"))
    httpx.post(f"{url}/alerts", json=_payload("firing", "HighErrorRatio"))
    httpx.post(f"{url}/alerts", json=_payload("resolved", "HighErrorRatio"))
    assert len(httpx.get(f"{url}/alerts").json()) == 3
    only = httpx.get(f"{url}/alerts", params={"alertname": "HighErrorRatio", "status": "resolved"}).json()
    assert [(r["labels"]["alertname"], r["status"]) for r in only] == [("HighErrorRatio", "resolved")]
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/nope").status_code == 404


def test_receiver_rejects_garbage(receiver: tuple[str, Path]) -> None:
    url, path = receiver
    assert httpx.post(f"{url}/alerts", content=b"not json").status_code == 400
    assert httpx.post(f"{url}/alerts", json={"no": "alerts"}).status_code == 400
    assert httpx.post(f"{url}/alerts", json={"alerts": [1, "x"]}).status_code == 400
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:  # httpx refuses to send this header
        sock.sendall(b"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}")
        assert sock.recv(64).split(b" ")[1] == b"400"
    assert httpx.post(f"{url}/other", json=_payload()).status_code == 404
    assert not path.exists() or path.read_text() == ""


def test_read_skips_a_half_written_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    good = {"status": "firing", "labels": {"alertname": "A"}, "receivedAtUnix": 1.0, "startsAt": None}
    path.write_text(json.dumps(good) + "\n" + '{"status": "fir')
    assert [a.alertname for a in client.read_received_alerts(path)] == ["A"]
    assert client.read_received_alerts(tmp_path / "missing.jsonl") == []


def test_wait_for_received_alert(receiver: tuple[str, Path]) -> None:
    url, path = receiver
    timer = threading.Timer(0.3, lambda: httpx.post(f"{url}/alerts", json=_payload("firing")))
    timer.start()
    try:
        got = client.wait_for_received_alert(path, "APIEndpointDown", timeout=10, interval=0.05)
    finally:
        timer.cancel()
    assert got.status == "firing"
    with pytest.raises(TimeoutError, match="resolved APIEndpointDown"):
        client.wait_for_received_alert(path, "APIEndpointDown", "resolved", timeout=0.3, interval=0.05)


def _series(*stamps: float) -> dict[str, Any]:
    return {"metric": {"alertname": "APIEndpointDown"}, "values": [[t, "1"] for t in stamps]}


def test_alert_intervals(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_range(prom_url: str, expr: str, start: float, end: float, step: float = 1.0) -> list[dict[str, Any]]:
        seen.update(expr=expr, step=step)
        # two label sets of the same alert overlap; a gap from 106 to 120; still firing at the end
        return [_series(100, 101, 102, 103), _series(103, 104, 105), _series(120, 121, 122, 123, 124, 125)]

    monkeypatch.setattr(client, "query_range", fake_range)
    assert client.alert_intervals("http://127.0.0.1:1", "APIEndpointDown", 90, 125) == [(100.0, 106.0), (120.0, None)]
    assert seen["expr"] == 'ALERTS{alertstate="firing", alertname="APIEndpointDown"}'
    assert client.alert_intervals("http://127.0.0.1:1", "APIEndpointDown", 90, 140) == [(100.0, 106.0), (120.0, 126.0)]

    monkeypatch.setattr(client, "query_range", lambda *a, **k: [])
    assert client.alert_intervals("http://127.0.0.1:1", "APIEndpointDown", 90, 140) == []


def test_alert_intervals_raises_the_step_for_long_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = []

    def fake_range(prom_url: str, expr: str, start: float, end: float, step: float = 1.0) -> list[dict[str, Any]]:
        steps.append(step)
        return []

    monkeypatch.setattr(client, "query_range", fake_range)
    client.alert_intervals("http://127.0.0.1:1", "X", 0, 86400)
    assert steps[0] * client.MAX_POINTS >= 86400


def test_error_ratio_and_p95(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, float | None]] = []

    def fake_scalar(prom_url: str, expr: str, at: float | None = None, timeout: float = 10.0) -> float | None:
        asked.append((expr, at))
        if expr.startswith("histogram_quantile(0.95"):
            return 0.123
        if "count_over_time(probe_success" in expr:
            return 40.0
        if "haproxy_frontend_http_responses_total" in expr:
            return 20.0 if 'code="5xx"' in expr else 1000.0
        return None if 'status=~"5.."' in expr else 900.0  # no 5xx series at the replicas yet

    monkeypatch.setattr(client, "query_scalar", fake_scalar)
    stats = client.error_ratio_and_p95("http://127.0.0.1:1", SELECT, 1000.0, 1060.0)
    assert stats.lb_requests == 1000.0 and stats.probe_requests == 40.0
    assert stats.error_ratio == pytest.approx(0.02)
    assert stats.service_5xx == 0.0 and stats.service_error_ratio == 0.0
    assert stats.p95_seconds == 0.123
    assert {at for _, at in asked} == {1060.0}
    assert all("[60000ms]" in expr for expr, _ in asked)
    assert all("ecommerce-backend" in expr for expr, _ in asked)  # the service's own series
    with pytest.raises(ValueError):
        client.error_ratio_and_p95("http://127.0.0.1:1", SELECT, 10, 10)


def test_no_traffic_means_no_ratio() -> None:
    stats = client.WindowStats(0, 1, None, None, None, None, None, None)
    assert stats.error_ratio is None and stats.service_error_ratio is None
    assert client.WindowStats(0, 1, 0.0, 0.0, 0.0, 0.0, 0.0, None).error_ratio is None


def test_prometheus_unreachable_is_a_clear_error() -> None:
    with pytest.raises(client.PrometheusError, match="unreachable"):
        client.query(f"http://127.0.0.1:{free_port()}", "up")


def test_wait_for_alert_times_out_when_prometheus_is_down() -> None:
    with pytest.raises(TimeoutError, match="APIEndpointDown firing"):
        client.wait_for_alert(f"http://127.0.0.1:{free_port()}", "APIEndpointDown", timeout=0.3, interval=0.1)
    with pytest.raises(ValueError):
        client.wait_for_alert("http://127.0.0.1:1", "X", state="bogus")


def test_to_unix() -> None:
    assert client.to_unix(datetime(1970, 1, 1, 0, 1, tzinfo=UTC)) == 60.0
    assert client.to_unix(datetime(1970, 1, 1, 0, 1)) == 60.0
    assert client.to_unix(5) == 5.0


class _Scrapes:
    """Prometheus as the window's queries see it: HAProxy scraped every second from ``first``; ``now`` advances
    with each look at the latest scrape."""

    def __init__(self, first: float, now: float) -> None:
        self.first, self.now, self.evaluated_at = first, now, []  # type: list[float]

    def scalar(self, prom_url: str, expr: str, at: float | None = None, timeout: float = 10.0) -> float | None:
        if expr.startswith("max(timestamp("):
            if at is not None:  # evaluated at a moment: the last scrape at or before it
                return float(int(min(at, self.now) - self.first)) + self.first if at >= self.first else None
            self.now += 1.0
            return float(int(self.now - self.first)) + self.first if self.now >= self.first else None
        if expr.startswith("min(count_over_time("):
            assert at is not None
            window_s = float(expr.split("[")[1].split("ms]")[0]) / 1000
            return float(sum(1 for k in range(100) if at - window_s < self.first + k <= at))
        self.evaluated_at.append(at)  # type: ignore[arg-type]
        return 5.0 if 'code="5xx"' in expr else 100.0


def test_a_short_window_is_measured_to_a_scrape_that_gives_it_two(monkeypatch: pytest.MonkeyPatch) -> None:
    # a one-second window (scraped every second) asked before its last scrape: measured to the second scrape after
    # its start, evaluated at that scrape, never at a moment whose range holds one sample
    prom = _Scrapes(first=1000.5, now=1000.0)
    monkeypatch.setattr(client, "query_scalar", prom.scalar)
    monkeypatch.setattr(client.interrupts, "pause", lambda s: None)
    stats = client.scraped_window_stats("http://127.0.0.1:1", SELECT, 1001.0, 1002.0, timeout=5)
    assert stats.error_ratio == pytest.approx(0.05)
    assert set(prom.evaluated_at) == {1002.5} and stats.end == 1002.5  # scrapes at 1001.5 and 1002.5


def test_a_window_with_two_scrapes_is_measured_within_it_never_past_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    # scraped every second from 1000.5; a window 1001-1004 asked at 1000: once a scrape at or after 1004 is in, it is
    # measured to its last scrape inside (1003.5), never to the later one (the next experiment may be under way)
    prom = _Scrapes(first=1000.5, now=1000.0)
    monkeypatch.setattr(client, "query_scalar", prom.scalar)
    monkeypatch.setattr(client.interrupts, "pause", lambda s: None)
    stats = client.scraped_window_stats("http://127.0.0.1:1", SELECT, 1001.0, 1004.0, timeout=10)
    assert set(prom.evaluated_at) == {1003.5} and stats.end == 1003.5
    assert stats.error_ratio == pytest.approx(0.05)


def test_a_window_without_two_scrapes_by_the_deadline_has_no_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "query_scalar", lambda *a, **k: None)  # nothing scraped at all
    monkeypatch.setattr(client.interrupts, "pause", lambda s: None)
    stats = client.scraped_window_stats("http://127.0.0.1:1", SELECT, 1001.0, 1002.0, timeout=0)
    assert stats.error_ratio is None and stats.lb_requests is None
