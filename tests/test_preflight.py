"""The game day's preflight waits for a healthy service as long as the target's own start budget says (measured on
the service at ``up``), not a constant that suits our fast reference services; and refuses an unhealthy one."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.config import Settings
from gameday.errors import GamedayError
from gameday.run.session import preflight
from tests.diagnose_fakes import FakeTarget


class WaitingTarget(FakeTarget):
    """The in-memory target, recording the wait it is asked for and answering ``healthy``."""

    def __init__(self, healthy: bool) -> None:
        super().__init__()
        self.healthy = healthy
        self.waits: list[float | None] = []

    def wait_healthy(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.healthy


def test_the_preflight_waits_the_target_s_own_start_budget(tmp_path: Path) -> None:
    target = WaitingTarget(healthy=True)
    preflight(target, Settings(state_dir=tmp_path / "state"))
    assert target.waits == [None]  # None: the target's own budget (local: 3 x the start measured at up)


def test_an_unhealthy_service_stops_the_game_day_before_any_fault(tmp_path: Path) -> None:
    target = WaitingTarget(healthy=False)
    with pytest.raises(GamedayError, match=r"system not healthy before the game day .*the target's start budget"):
        preflight(target, Settings(state_dir=tmp_path / "state"))
