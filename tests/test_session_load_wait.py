"""The game day's background load waits what the profile says between a user's tasks (issue 21), not a constant:
the profile's think time when its verification asks for it, else short enough to decide the verification's error
rate within its window, never longer than the profile's users wait."""

from __future__ import annotations

from pathlib import Path

import yaml

from gameday.config import Settings
from gameday.run.background import background_wait
from gameday.verify.verdicts import required_requests

PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "ticket-office.yaml"


def settings_with(tmp_path: Path, **changes: dict) -> Settings:
    """ticket-office's profile with ``changes`` merged into its top-level sections."""
    data = yaml.safe_load(PROFILE.read_text())
    data["local"]["working_dir"] = str(PROFILE.parent.parent)
    for section, values in changes.items():
        data[section] = {**data.get(section, {}), **values}
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    return Settings(profile=path)


def test_the_load_sends_what_decides_the_error_rate_within_the_verification_window(tmp_path: Path):
    settings = settings_with(tmp_path)
    low, high = background_wait(settings, users=4, verify_window_s=8.0)
    needed = required_requests(settings.service.slo.max_error_rate, settings.slo.confidence, 0.0)
    tasks = 4 * 8.0 / ((low + high) / 2)  # at most, each a request or more
    assert tasks >= needed * 0.999
    assert 0 < low <= high <= settings.service.load.think_time_s[1]
    # twice the window, half the rate; a coarser SLO needs fewer requests: the users wait longer
    assert background_wait(settings, users=4, verify_window_s=16.0)[1] > high
    coarse = settings_with(tmp_path, slo={"max_error_rate": 0.05})
    assert background_wait(coarse, users=4, verify_window_s=8.0)[1] > high


def test_a_profile_that_asks_its_verification_to_think_gets_its_think_time(tmp_path: Path):
    settings = settings_with(tmp_path, verify={"think_time": True}, load={"think_time_s": [1.0, 3.0]})
    assert background_wait(settings, users=4, verify_window_s=8.0) == (1.0, 3.0)


def test_users_that_think_faster_than_the_calibration_keep_their_own_pace(tmp_path: Path):
    settings = settings_with(tmp_path, load={"think_time_s": [0.0, 0.01]})
    assert background_wait(settings, users=4, verify_window_s=8.0) == (0.0, 0.01)
