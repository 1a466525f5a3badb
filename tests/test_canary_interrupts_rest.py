"""Interrupts 11 to 20 of the canary's 20 seeded SIGINTs (:mod:`tests.test_canary_interrupts` has the schedule
and the first ten): a file of their own, so that xdist runs the two halves on its two workers side by side."""

from __future__ import annotations

import pytest

from gameday.targets.local.target import LocalTarget
from tests.test_canary_interrupts import run_interrupts


@pytest.mark.slow
def test_sigints_11_to_20_at_seeded_moments_leave_every_replica_on_its_release(healthy: LocalTarget) -> None:
    run_interrupts(healthy, 11, 20)
