"""A replica's own request counters, read from its Prometheus text exposition: what it served, per replica.

On a cluster the Service spreads requests in the kernel (kube-proxy): nothing outside the pods can tell which pod
answered a request, and the client sees one address. Each replica counts what it serves (the profile's
``service.metrics``: a request counter and a duration histogram, both labelled by status and route), so reading
every pod's counters twice gives what each side of a canary served in between.

- Only the service's API counts: its health, readiness and metrics routes are left out (the kubelet's probes and
  this reader's own scrapes are not traffic).
- A read lower than the earlier one is a restarted process (its counters start again at zero), so the increase is
  the later read itself, as Prometheus's ``increase()`` does. A crash loses what the process counted since the last
  read, which is why a canary pod's restarts are judged as failures by the target (see the Kubernetes canary).
- Latencies come from the histogram's buckets: each request is placed at the middle of its bucket (the +Inf bucket
  at the largest finite bound, as ``histogram_quantile`` does). The canary comparison ranks latencies
  (Mann-Whitney U) and reads a median and a p95, all within one bucket's width of the truth: enough to tell a
  150 ms slower release from a good one, not to measure 2 ms.
- Failed requests (5xx) are left out of the latencies when the histogram carries the status label (a fast 503 is
  not a fast answer). A histogram without it times every request; failures are still judged by the error check.

The parsing is prometheus_client's own parser (the format's reference implementation), not a hand-written one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from gameday.calls import failed_status
from gameday.profile import Metrics
from gameday.targets.canary import Served

MAX_SAMPLES = 200_000  # latencies reconstructed per side and window: bounded like every load loop


class ExpositionError(ValueError):
    """The text is not a Prometheus exposition, or it lacks the profile's request counter."""


@dataclass(frozen=True)
class Reading:
    """One replica's cumulative counts at one moment (API routes only)."""

    requests: float
    failures: float  # 5xx
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound in seconds, cumulative count), sorted by bound

    def since(self, earlier: Reading | None) -> Reading:
        """The increase from ``earlier`` (None: the replica was not there before, so everything is new)."""
        if earlier is None or self.requests < earlier.requests:  # new, or restarted: counters began at zero again
            return self
        before = dict(earlier.buckets)
        return Reading(self.requests - earlier.requests, max(0.0, self.failures - earlier.failures),
                       tuple((le, max(0.0, count - before.get(le, 0.0))) for le, count in self.buckets))


def _is_failure(status: str) -> bool:
    """A status label is a failure by :func:`~gameday.calls.failed_status`; some libraries label by class ("5xx")."""
    return failed_status(int(status)) if status.isdigit() else status.lower() == "5xx"


def parse(text: str, metrics: Metrics, own_paths: Iterable[str]) -> Reading:
    """The API counts of one exposition (ExpositionError when it does not declare the request counter at all)."""
    own = set(own_paths)
    requests = failures = 0.0
    seen_counter = False
    buckets: dict[float, float] = {}
    timed_by_status: bool | None = None
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise ExpositionError(f"not a Prometheus exposition ({exc})") from None
    for family in families:
        # a counter nobody incremented yet has its HELP and TYPE lines and no sample (the parser drops "_total")
        seen_counter = seen_counter or metrics.requests in (family.name, f"{family.name}_total")
        for sample in family.samples:
            labels = sample.labels
            if labels.get(metrics.route_label) in own:
                continue
            status = labels.get(metrics.status_label, "")
            if sample.name == metrics.requests:
                requests += sample.value
                if _is_failure(status):
                    failures += sample.value
            elif sample.name == f"{metrics.duration}_bucket" and "le" in labels:
                timed_by_status = metrics.status_label in labels
                if timed_by_status and _is_failure(status):
                    continue
                le = float(labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    if not seen_counter:
        raise ExpositionError(f"no {metrics.requests} series (service.metrics.requests)")
    return Reading(requests, failures, tuple(sorted(buckets.items())))


def latencies_ms(buckets: Iterable[tuple[float, float]]) -> tuple[float, ...]:
    """Each counted request at the middle of its bucket, in milliseconds (cumulative counts in, samples out)."""
    out: list[float] = []
    lower, below = 0.0, 0.0
    finite = [le for le, _ in buckets if not math.isinf(le)]
    top = max(finite, default=0.0)
    for le, cumulative in buckets:
        count = max(0, round(cumulative - below))
        value = top if math.isinf(le) else (lower + le) / 2
        out.extend([value * 1000.0] * min(count, MAX_SAMPLES - len(out)))
        below = max(below, cumulative)
        if not math.isinf(le):
            lower = le
    return tuple(out)


def served(increases: Iterable[Reading], first_at: float | None, extra_failures: int = 0) -> Served:
    """What a side served: the sum of its replicas' increases, plus failures the counters cannot hold (restarts)."""
    requests = failures = 0.0
    buckets: dict[float, float] = {}
    for r in increases:
        requests += r.requests
        failures += r.failures
        for le, count in r.buckets:
            buckets[le] = buckets.get(le, 0.0) + count
    return Served(round(requests) + extra_failures, round(failures) + extra_failures,
                  latencies_ms(sorted(buckets.items())), first_at)
