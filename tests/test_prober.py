"""The game day's prober against the running stack: the profile's probes, a hang seen at the probes' own timeouts,
and a service slower than its SLO that still answers seen as slow, never as down."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gameday.config import Settings
from gameday.run.prober import Prober, outage_decided, probes_of

pytestmark = pytest.mark.slow


def _until(cond: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := cond()) and time.monotonic() < deadline:
        time.sleep(0.05)  # poll
    return found


def test_a_hang_fails_the_probes_at_their_own_timeouts(healthy: Any, settings: Settings) -> None:
    profile = settings.service
    prober = Prober.for_profile(profile, healthy.base_url(), healthy.health_timeout_s()).start()
    try:
        assert _until(lambda: len(prober.snapshot()) >= 6, 10)
        healthy_obs = prober.snapshot()
        assert {o.path for o in healthy_obs} == {"health", *profile.detection.probes}
        assert all(o.ok for o in healthy_obs), [o.call.describe() for o in healthy_obs if not o.ok]
        instant = time.time()
        healthy.freeze_replicas()
        decided = _until(lambda: outage_decided(prober.snapshot(instant), instant), 10)
    finally:
        healthy.thaw_replicas()
        prober.stop()
    assert decided is not None
    # the deciding probe failed at its series' own timeout (the health check's readiness timeout, 1 s), or on the
    # load balancer's answer once HAProxy's checks took every replica out; never later than its timeout
    by_name = {p.name: p for p in probes_of(profile, healthy.health_timeout_s())}
    assert decided.latency_s <= by_name[decided.path].timeout_s + 0.3, decided.call.describe()
    assert decided.status in (None, 503, 504), decided.call.describe()


def test_a_service_slower_than_its_slo_but_answering_is_slow_not_an_outage(healthy: Any, settings: Settings) -> None:
    """PostgreSQL 200 ms late: an order lookup takes 0.6-1.4 s (3 round trips; a new pooled connection's handshake
    more), over the 0.5 s latency SLO and within its timeout_s and HAProxy's 2 s: the users are served, slowly. A
    prober that failed its probes at the SLO decided an outage here (and the game day paged)."""
    profile = settings.service
    slo_s = profile.slo.p95_ms / 1000
    prober = Prober.for_profile(profile, healthy.base_url(), healthy.health_timeout_s()).start()
    toxic = {"name": "prober-slow", "type": "latency", "stream": "downstream", "toxicity": 1.0,
             "attributes": {"latency": 200, "jitter": 0}}
    try:
        assert _until(lambda: len(prober.snapshot()) >= 6, 10)
        instant = time.time()
        healthy.add_toxic("postgres", toxic)
        slow = _until(lambda: len([o for o in prober.snapshot(instant) if o.ok and o.latency_s > slo_s]) >= 6, 20)
        seen = prober.snapshot(instant)
    finally:
        healthy.remove_toxic("postgres", toxic["name"])
        prober.stop()
    assert slow, [o.call.describe() for o in seen[-8:]]
    decided = outage_decided(seen, instant)
    assert decided is None, [o.call.describe() for o in seen if not o.ok]
