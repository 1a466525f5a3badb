"""The detection pipeline, live: faults on the local stack → Prometheus → Alertmanager → gameday's receiver.

The end-to-end tests (marked slow) prove that the profile's endpoint-down alert (``APIEndpointDown``) pages for a
full outage within the local windows and resolves after recovery, stays silent for a degraded-but-serving fault,
and that Prometheus's view of a window of known traffic agrees with the count. They print what they measured.
The fast tests at the bottom check ``gameday.alerts.timeline`` without a stack.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gameday import faults
from gameday.alerts import client
from gameday.alerts import rules as alert_rules
from gameday.alerts.timeline import AlertTimes, alert_times
from gameday.errors import UsageError
from gameday.faults import expected_to_fire
from gameday.ledger import Ledger
from gameday.profile import DEFAULT_PROFILE
from gameday.profile import load as load_profile
from gameday.run.paging import paging_rule_s
from gameday.targets.local.monitoring import received_alerts_path
from tests.helpers import status_of, wait_for

PROFILE = load_profile(DEFAULT_PROFILE)  # what the test stack runs: the reference service
ALERT = PROFILE.alerts.endpoint_down
SELECT = alert_rules.Selectors.of(PROFILE)
POLL = 0.25  # seconds between looks at Prometheus / the receiver's file
RECEIVER_DELAY_S = 10.0  # Prometheus → Alertmanager (group_wait 1s) → receiver, with room for a busy machine
DEGRADED_S = 25.0  # how long the degraded-but-serving fault lasts at least
TRAFFIC = 200


@dataclass(frozen=True)
class Monitoring:
    """Where the local stack's monitoring is, and APIEndpointDown's windows."""

    prom: str
    receiver: Path
    for_s: float
    range_s: float
    scrape_s: float

    @property
    def fire_within(self) -> float:
        """The bound for an outage to fire: the rule's `for:` + its rate window + two scrape intervals, plus the
        rule group's evaluation lag on a loaded 2-core machine (seen up to ~5 s in CI)."""
        return self.for_s + self.range_s + 2 * self.scrape_s + 8.0


def _monitoring(target: Any) -> Monitoring:
    """APIEndpointDown's windows from the local rules profile, checked against what Prometheus loaded."""
    windows = alert_rules.load_windows(alert_rules.monitoring_dir() / "profiles" / "local.yml")["endpoint_down"]
    prom = f"http://127.0.0.1:{target.port('prometheus')}"
    loaded = client.alerting_rules(prom)[ALERT]
    for_s = alert_rules.parse_duration(windows["for"])
    assert loaded["duration"] == for_s, "Prometheus runs another `for:` than the local profile's"
    ranges = {alert_rules.parse_duration(r) for r in alert_rules.RANGE_SELECTOR.findall(loaded["query"])}
    assert len(ranges) == 1 and min(ranges) >= alert_rules.parse_duration(windows["range"]), ranges
    return Monitoring(
        prom=prom,
        receiver=received_alerts_path(target.state),
        for_s=for_s,
        range_s=ranges.pop(),  # the profile's range, raised by the stack to a few scrapes if it was shorter
        scrape_s=alert_rules.parse_duration(target.settings.local.scrape_interval),
    )


@pytest.fixture(scope="module")
def fresh_monitoring(stack: Any) -> Any:
    """The shared stack, which must run its monitoring (a fresh stack starts it on empty data)."""
    if not stack.settings.local.monitoring:
        pytest.skip("the local stack runs without monitoring (settings.local.monitoring is off)")
    prom = f"http://127.0.0.1:{stack.port('prometheus')}"
    wait_for(lambda: ALERT in client.alerting_rules(prom), 30, POLL, "the rules loaded")
    return stack


@pytest.fixture
def live(fresh_monitoring: Any, healthy: Any) -> Any:
    """The healthy shared stack, its monitoring started on empty data for this module."""
    return healthy


def _report(name: str, t0: float, recovered: float, times: AlertTimes) -> None:
    since_fault, since_recovery = times.delays(t0), times.delays(recovered)
    print(
        f"\n[{name}] from fault: pending +{since_fault['pending']}s, firing +{since_fault['fired']}s, "
        f"at receiver +{since_fault['received_firing']}s; recovery at +{recovered - t0:.2f}s; "
        f"from recovery: resolved +{since_recovery['resolved']}s, at receiver +{since_recovery['received_resolved']}s"
    )


def _outage_fires_and_resolves(target: Any, fault: str, params: dict[str, Any], premise: Callable[[], None]) -> None:
    """Inject a full outage; APIEndpointDown must fire within the windows, reach the receiver, resolve after undo."""
    mon = _monitoring(target)
    # a quiet start: an outage of an earlier test on the shared stack may still be resolving its alert
    client.wait_for_alert(mon.prom, ALERT, "inactive", timeout=mon.fire_within + 60, interval=POLL)
    assert expected_to_fire(fault, params, PROFILE)
    ledger = Ledger(target.state.ledger)
    t0 = time.time()
    entry = faults.inject(target, ledger, fault, params)
    try:
        premise()
        left = mon.fire_within - (time.time() - t0)
        client.wait_for_alert(mon.prom, ALERT, "firing", timeout=max(left, 0.0) + POLL, interval=POLL)
        client.wait_for_received_alert(mon.receiver, ALERT, since=t0, timeout=RECEIVER_DELAY_S, interval=POLL)
    finally:
        faults.undo(target, ledger, entry)
    wait_for(lambda: status_of(target.base_url() + "/api/products") == 200, 30, POLL, "the service back")
    recovered = time.time()
    client.wait_for_alert(mon.prom, ALERT, "inactive", timeout=mon.fire_within, interval=POLL)
    client.wait_for_received_alert(mon.receiver, ALERT, "resolved", since=t0, timeout=RECEIVER_DELAY_S, interval=POLL)

    times = alert_times(mon.prom, mon.receiver, ALERT, t0, time.time(), step=mon.scrape_s)
    _report(fault, t0, recovered, times)
    assert times.fired_at is not None and times.fired_at - t0 <= mon.fire_within
    assert times.pending_at is not None, "it fired without going through pending"
    assert times.fired_at - times.pending_at >= mon.for_s - 1.5 * mon.scrape_s, "pending shorter than `for:`"
    assert times.received_firing_at is not None
    assert times.fired_at <= times.received_firing_at <= times.fired_at + RECEIVER_DELAY_S
    assert times.resolved_at is not None and times.resolved_at - recovered <= mon.fire_within
    assert times.received_resolved_at is not None and times.received_resolved_at >= times.received_firing_at


def test_the_page_wait_reads_the_rule_prometheus_runs(fresh_monitoring) -> None:
    """The game day's page wait (run.paging) is calibrated on the loaded rule: `for:`, rate window, evaluations."""
    mon = _monitoring(fresh_monitoring)
    rule = paging_rule_s(mon.prom, ALERT)
    assert rule is not None and rule[0] == mon.for_s
    assert rule[1] == pytest.approx(mon.for_s + mon.range_s + 2 * mon.scrape_s)
    assert paging_rule_s(mon.prom, "NoSuchAlert") is None


@pytest.mark.slow
def test_killing_every_replica_pages_and_resolves_after_recovery(live) -> None:
    def given_up() -> None:
        """The outage must last until the undo: the supervisor has stopped restarting every replica (FATAL), not
        merely backing off (BACKOFF is CrashLoopBackOff too, and a replica in it comes back by itself). Once, in
        CI, a replica still backing off after the 16th kill came back and the alert never fired: the supervisor
        then gave up after 3 retries, ~7 s, and the kills end at ~7.9 s; with the profile's 2 it gives up at ~3.5 s."""
        def states() -> set[str]:
            infos = live.supervisor.processes()
            return {infos.get(name, {}).get("statename", "UNKNOWN") for name in live.replica_names}

        wait_for(lambda: states() == {"FATAL"}, 10, 0.2, "the supervisor giving up on every replica (FATAL)")
        assert {r.phase for r in live.replicas()} == {"CrashLoopBackOff"}
        assert status_of(live.base_url() + "/api/products") == 503

    _outage_fires_and_resolves(live, "kill-replicas", {"rounds": 16}, given_up)


@pytest.mark.slow
def test_freezing_every_replica_pages_and_resolves_after_recovery(live) -> None:
    def hung() -> None:
        assert {(r.phase, r.ready, r.probe) for r in live.replicas()} == {("Running", False, "timeout")}
        wait_for(lambda: status_of(live.base_url() + "/api/products") == 503, 10, 0.2, "503 from the LB")

    _outage_fires_and_resolves(live, "freeze-replicas", {}, hung)


@pytest.mark.slow
def test_degraded_but_serving_does_not_page(live) -> None:
    """Redis stopped: the service answers (degraded), Prometheus sees the dependency down, nobody is paged."""
    mon = _monitoring(live)
    client.wait_for_alert(mon.prom, ALERT, "inactive", timeout=mon.fire_within, interval=POLL)
    params = {"dependency": "redis"}
    assert not expected_to_fire("stop-dependency", params, PROFILE)
    base = live.base_url()
    ledger = Ledger(live.state.ledger)
    t0 = time.time()
    entry = faults.inject(live, ledger, "stop-dependency", params)
    states: set[str] = set()
    seen: set[str] = set()
    served: list[int | None] = []
    try:
        wait_for(lambda: httpx.get(base + "/readyz", timeout=3).json()["status"] == "degraded", 15, 0.2, "degraded")
        observe_until = t0 + max(DEGRADED_S, mon.fire_within)  # longer than `for:`: an outage would have fired
        while time.time() < observe_until:
            active = client.prometheus_alerts(mon.prom)
            states |= {a["state"] for a in active if a["labels"]["alertname"] == ALERT}
            seen |= {a["labels"]["alertname"] for a in active if a["state"] == "firing"}
            served.append(status_of(base + "/api/products"))
            time.sleep(POLL)  # poll
    finally:
        faults.undo(live, ledger, entry)
    end = time.time()
    print(f"\n[stop-dependency redis] {end - t0:.1f}s degraded; {ALERT} states seen: {sorted(states) or 'none'}; "
          f"firing meanwhile: {sorted(seen)}")
    assert end - t0 > mon.for_s
    assert served and set(served) == {200}, "the service must keep serving while degraded"
    assert "DependencyDown" in seen, "Prometheus must have seen Redis down (the pipeline was not blind)"
    assert "firing" not in states
    times = alert_times(mon.prom, mon.receiver, ALERT, t0, end, step=mon.scrape_s)
    assert not times.fired and times.received_firing_at is None


@pytest.mark.slow
def test_window_of_known_traffic_agrees_with_the_count(live) -> None:
    """200 requests through the load balancer, all 200: Prometheus counts them, with no error and a p95."""
    mon = _monitoring(live)
    lb_scrape = f"max(timestamp({SELECT.lb_responses}))"
    replica_scrape = f'min(timestamp(up{{job="{PROFILE.service.name}"}}))'  # every replica scraped since

    def scraped_after(query: str, t: float) -> float | None:
        ts = client.query_scalar(mon.prom, query)
        return ts if ts is not None and ts > t else None

    # Window edges on HAProxy's own scrapes (no extrapolation of its counters beyond the traffic), with a
    # scrape of every replica inside the window on both sides of the traffic (they are scraped separately).
    wait_for_scrape = functools.partial(wait_for, timeout=10 * mon.scrape_s, interval=POLL)
    for name in live.replica_names:  # every replica's series exist before the window (a new series has no start)
        assert status_of(f"http://127.0.0.1:{live.port(name)}/api/products") == 200

    def measured_window() -> tuple[float, float, client.WindowStats]:
        before = time.time()
        wait_for_scrape(lambda: scraped_after(replica_scrape, before), what="a scrape of every replica")
        before = time.time()
        first = wait_for_scrape(lambda: scraped_after(lb_scrape, before), what="a scrape of HAProxy")
        wait_for_scrape(lambda: scraped_after(replica_scrape, first), what="a scrape of every replica")
        with httpx.Client(base_url=live.base_url(), timeout=5) as http:
            codes = [http.get("/api/products").status_code for _ in range(TRAFFIC)]
        assert codes == [200] * TRAFFIC
        after = time.time()
        replicas_done = wait_for_scrape(lambda: scraped_after(replica_scrape, after), what="every replica again")
        last = wait_for_scrape(lambda: scraped_after(lb_scrape, replicas_done), what="a scrape of HAProxy")
        return first, last, client.error_ratio_and_p95(mon.prom, SELECT, first - 0.002, last)

    # A scrape that Prometheus missed under load leaves a source with one sample in the window: not
    # measurable (None), never a wrong count. Such a window is measured again, at most three times.
    for _ in range(3):
        first, last, stats = measured_window()
        if stats.lb_requests is not None and stats.service_requests:
            break
    assert stats.lb_requests is not None, "three windows in a row without two HAProxy scrapes"
    traffic = stats.lb_requests - (stats.probe_requests or 0.0)
    print(f"\n[traffic] {last - first:.1f}s window: LB counted {stats.lb_requests:.1f} requests "
          f"({stats.probe_requests} probes), 5xx {stats.lb_5xx}, ratio {stats.error_ratio}, "
          f"p95 {stats.p95_seconds}s")
    assert abs(traffic - TRAFFIC) <= 3, f"Prometheus counted {traffic:.1f} requests besides the probes"
    assert stats.lb_5xx == 0 and stats.error_ratio == 0
    # the replicas are scraped at other instants than HAProxy, so their increase() over this HAProxy-aligned
    # window is extrapolated from partial samples: it must see the traffic, not match it to the request
    assert stats.service_requests is not None and stats.service_requests > 0
    assert stats.p95_seconds is not None and 0 < stats.p95_seconds < 1.0


# ---------------------------------------------------------------------------- timeline, without a stack


@pytest.mark.parametrize(
    ("fault", "params", "fires"),
    [
        ("kill-replicas", {"rounds": 16}, True),
        ("kill-replicas", {}, False),  # one round: a restart blip the `for:` rides out
        ("kill-replicas", {"rounds": 16, "replicas": ["replica-0"]}, False),
        ("freeze-replicas", {}, True),
        ("freeze-replicas", {"replicas": ["replica-1"]}, False),
        ("bad-release", {}, True),
        ("bad-config", {}, True),
        ("stop-dependency", {"dependency": "postgres"}, True),
        ("hang-dependency", {"dependency": "postgres"}, True),
        ("stop-dependency", {"dependency": "redis"}, False),
        ("stop-dependency", {"dependency": "kafka"}, False),
        ("hang-dependency", {"dependency": "redis"}, False),
    ],
)
def test_expected_to_fire(fault: str, params: dict[str, Any], fires: bool) -> None:
    assert expected_to_fire(fault, params, PROFILE) is fires


def test_expected_to_fire_knows_all_named_replicas_and_rejects_bad_input() -> None:
    names = ["replica-0", "replica-1"]
    assert expected_to_fire("freeze-replicas", {"replicas": names}, PROFILE, replicas=names)
    assert expected_to_fire("freeze-replicas", {"replicas": "replica-0"}, PROFILE, replicas=["replica-0"])
    with pytest.raises(UsageError):
        expected_to_fire("unplug-datacenter", {}, PROFILE)
    with pytest.raises(UsageError):
        expected_to_fire("stop-dependency", {"dependency": "mysql"}, PROFILE)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _line(status: str, at: float, starts: str = "2026-11-26T10:00:00Z", ends: str = "0001-01-01T00:00:00Z") -> str:
    return json.dumps({
        "status": status, "labels": {"alertname": ALERT}, "annotations": {}, "startsAt": starts,
        "endsAt": ends, "fingerprint": "f", "receivedAtUnix": at,
    })


def test_alert_times_combines_prometheus_and_the_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z
    path = tmp_path / "alerts.jsonl"
    path.write_text("\n".join([
        _line("firing", t0 - 100),  # an earlier incident, before the window
        _line("firing", t0 + 18.5),
        _line("resolved", t0 + 40.2, ends="2026-11-26T10:00:39Z"),
        _line("firing", t0 + 500),  # after the window
    ]) + "\n")
    monkeypatch.setattr(client, "alert_intervals", lambda *a, **k: [(t0 + 18.0, t0 + 40.0), (t0 + 90.0, None)])
    pending = [t0 + 1, t0 + 2, *(t0 + i for i in range(4, 18))]  # a blip, then 14 s pending before it fired
    monkeypatch.setattr(client, "query_range", lambda *a, **k: [{"metric": {}, "values": [[t, "1"] for t in pending]}])
    times = alert_times("http://127.0.0.1:1", path, ALERT, t0, t0 + 120)
    assert (times.pending_at, times.fired_at, times.resolved_at) == (t0 + 4, t0 + 18.0, t0 + 40.0)
    assert (times.received_firing_at, times.received_resolved_at) == (t0 + 18.5, t0 + 40.2)
    assert times.fired and times.delays(t0)["received_firing"] == 18.5

    # the range ended too soon after the resolution: Prometheus's own resolve time (endsAt) is taken
    monkeypatch.setattr(client, "alert_intervals", lambda *a, **k: [(t0, None)])  # already firing at the start
    ends = 1_795_000_039.0
    path.write_text(_line("firing", t0 + 1) + "\n" + _line("resolved", t0 + 40.2, ends="2026-11-18T11:07:19Z") + "\n")
    already = alert_times("http://127.0.0.1:1", path, ALERT, t0, t0 + 41)
    assert already.resolved_at == ends and already.pending_at is None

    # the notifications carry Prometheus's exact firing and resolve times: they refine the 1 s steps
    monkeypatch.setattr(client, "alert_intervals", lambda *a, **k: [(t0 + 18.0, t0 + 40.0)])
    path.write_text(_line("firing", t0 + 18.5, starts=_iso(t0 + 17.4)) + "\n"
                    + _line("resolved", t0 + 39.5, ends=_iso(t0 + 39.2)) + "\n")
    exact = alert_times("http://127.0.0.1:1", path, ALERT, t0, t0 + 60)
    assert (exact.fired_at, exact.resolved_at) == (pytest.approx(t0 + 17.4), pytest.approx(t0 + 39.2))

    monkeypatch.setattr(client, "alert_intervals", lambda *a, **k: [])
    quiet = alert_times("http://127.0.0.1:1", tmp_path / "missing.jsonl", ALERT, t0, t0 + 60)
    assert quiet == AlertTimes(ALERT, None, None, None, None)
    assert not quiet.fired and quiet.delays(t0)["fired"] is None
    assert alert_times(None, None, ALERT, t0, t0 + 1) == AlertTimes(ALERT, None, None, None, None)
    with pytest.raises(ValueError):
        alert_times(None, None, ALERT, t0, t0)


def test_a_slower_crash_loop_policy_needs_longer_kills() -> None:
    """The kills must outlast the supervisor's back-offs (1 + 2 + ... + start_retries s): 5 retries take 15 s."""
    assert PROFILE.local is not None and PROFILE.local.start_retries == 2
    patient = PROFILE.model_copy(update={"local": PROFILE.local.model_copy(update={"start_retries": 5})})
    assert not expected_to_fire("kill-replicas", {"rounds": 16}, patient)
    assert expected_to_fire("kill-replicas", {"rounds": 36}, patient)
