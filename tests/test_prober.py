"""The game day's prober against the running stack: the profile's probes, and a hang seen at the latency SLO."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gameday.config import Settings
from gameday.run.prober import Prober, outage_decided

pytestmark = pytest.mark.slow


def _until(cond: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := cond()) and time.monotonic() < deadline:
        time.sleep(0.05)  # poll
    return found


def test_a_hang_fails_the_probes_at_the_latency_slo_not_at_the_load_balancers_timeout(healthy: Any,
                                                                                      settings: Settings) -> None:
    profile = settings.service
    prober = Prober.for_profile(profile, healthy.base_url()).start()
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
    # the deciding probe timed out at the SLO (0.5 s), well before HAProxy's 2 s server timeout would answer 504
    assert decided.status is None and decided.call.error == "timed out"
    assert decided.latency_s <= profile.slo.p95_ms / 1000 + 0.3
