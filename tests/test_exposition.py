"""A replica's own counters read from its exposition: API routes only, 5xx as failures, restarts as new counters,
latencies from histogram buckets without the failures. Expositions are written by prometheus_client itself."""

from __future__ import annotations

from statistics import median

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gameday.profile import Metrics
from gameday.targets import exposition
from gameday.targets.exposition import ExpositionError, Reading

METRICS = Metrics()
OWN = ("/healthz", "/readyz", "/metrics")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Replica:
    """A replica's registry, counting like the reference services do."""

    def __init__(self, status_on_histogram: bool = True, names: Metrics = METRICS) -> None:
        self.registry = CollectorRegistry()
        self.status_on_histogram = status_on_histogram
        self.requests = Counter(names.requests, "requests", ["method", names.route_label, names.status_label],
                                registry=self.registry)
        labels = [names.route_label, names.status_label] if status_on_histogram else [names.route_label]
        self.duration = Histogram(names.duration, "durations", labels, buckets=BUCKETS, registry=self.registry)
        self.names = names

    def serve(self, route: str, status: int, seconds: float, times: int = 1) -> None:
        n = self.names
        for _ in range(times):
            self.requests.labels(**{"method": "GET", n.route_label: route, n.status_label: str(status)}).inc()
            labels = {n.route_label: route, **({n.status_label: str(status)} if self.status_on_histogram else {})}
            self.duration.labels(**labels).observe(seconds)

    def read(self, names: Metrics = METRICS) -> Reading:
        return exposition.parse(generate_latest(self.registry).decode(), names, OWN)


def test_only_the_api_counts_and_5xx_are_failures() -> None:
    replica = Replica()
    replica.serve("/api/products", 200, 0.003, times=40)
    replica.serve("/api/orders", 503, 0.001, times=10)
    replica.serve("/readyz", 200, 0.001, times=500)  # the kubelet's probes are not traffic
    reading = replica.read()
    assert (reading.requests, reading.failures) == (50, 10)
    served = exposition.served([reading], None)
    assert (served.requests, served.failures) == (50, 10)
    assert len(served.latencies_ms) == 40  # the fast 503s are not fast answers
    assert median(served.latencies_ms) == pytest.approx(2.5)  # the middle of the 0-5 ms bucket


def test_increase_between_two_reads_and_a_restart_counts_from_zero() -> None:
    replica = Replica()
    replica.serve("/api/products", 200, 0.003, times=30)
    before = replica.read()
    replica.serve("/api/products", 200, 0.2, times=20)
    replica.serve("/api/products", 500, 0.2, times=5)
    increase = replica.read().since(before)
    assert (increase.requests, increase.failures) == (25, 5)
    assert exposition.served([increase], None).latencies_ms == (175.0,) * 20  # 100-250 ms bucket

    restarted = Replica()  # the process started again: its counters are lower than the last read
    restarted.serve("/api/products", 200, 0.003, times=7)
    assert restarted.read().since(replica.read()).requests == 7


def test_a_slower_side_is_slower_in_the_reconstructed_latencies() -> None:
    fast, slow = Replica(), Replica()
    fast.serve("/api/products", 200, 0.004, times=100)
    slow.serve("/api/products", 200, 0.154, times=100)
    a, b = exposition.served([slow.read()], None), exposition.served([fast.read()], None)
    assert median(a.latencies_ms) - median(b.latencies_ms) > 100


def test_sides_sum_their_replicas_and_restarts_count_as_failures() -> None:
    one, two = Replica(), Replica()
    one.serve("/api/products", 200, 0.003, times=10)
    two.serve("/api/products", 500, 0.003, times=4)
    side = exposition.served([one.read(), two.read()], 12.5, extra_failures=2)
    assert (side.requests, side.failures, side.first_at) == (16, 6, 12.5)


def test_histogram_without_status_times_every_request() -> None:
    replica = Replica(status_on_histogram=False)
    replica.serve("/api/products", 200, 0.003, times=5)
    replica.serve("/api/products", 503, 0.003, times=5)
    assert len(exposition.served([replica.read()], None).latencies_ms) == 10


def test_other_names_from_the_profile() -> None:
    names = Metrics(requests="web_hits_total", duration="web_latency_seconds", status_label="code",
                    route_label="handler")
    replica = Replica(names=names)
    replica.serve("/v2/events", 502, 0.01, times=3)
    assert replica.read(names).failures == 3
    with pytest.raises(ExpositionError, match="no http_requests_total series"):
        replica.read(METRICS)


def test_a_replica_that_served_nothing_yet_has_the_counter_and_no_sample() -> None:
    reading = Replica().read()
    assert (reading.requests, reading.failures) == (0, 0)
    assert exposition.served([reading], None).latencies_ms == ()


def test_slowest_bucket_is_placed_at_the_largest_finite_bound() -> None:
    replica = Replica()
    replica.serve("/api/products", 200, 30.0, times=2)
    assert exposition.served([replica.read()], None).latencies_ms == (1000.0, 1000.0)


@pytest.mark.parametrize("text", ["<html>502 Bad Gateway</html>", "{\"kind\": \"Status\"}", ""])
def test_what_is_not_an_exposition_with_the_counter(text: str) -> None:
    with pytest.raises(ExpositionError):
        exposition.parse(text, METRICS, OWN)
