"""The steady state before the method may be judged on the game day's own background load, its most recent seconds:
only when they pass both verdicts, are fresh, and only before the method (after it, its seconds hold the outage).
Anything else is measured by the steady state's own burst, as without a background load."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gameday.chaos import probe_state
from gameday.chaos.probes import RECENT_FRESH_S, load_within_slo, recent_load
from gameday.config import Settings
from gameday.context import LOAD_KEY, RunContext
from gameday.load.timeline import Second, Timeline
from gameday.profile import PROJECT_ROOT
from gameday.profile import load as load_profile
from gameday.targets.model import TargetError

PROFILE = load_profile(PROJECT_ROOT / "profiles" / "ecommerce-backend.yaml")  # error rate < 1%: ~381 answers
NOW = 1_800_000_000.0


def second(t: int, requests: int = 100, failures: int = 0, ms: int = 20) -> Second:
    ok = requests - failures
    return Second(t, requests, failures, hist={ms: requests}, ok_hist={ms: ok} if ok else {},
                  errors={"503 Service Unavailable": failures} if failures else {})


def healthy(seconds: int = 10, end: float = NOW, **kwargs: int) -> Timeline:
    """``seconds`` of 100 answers each, the newest ending at ``end``."""
    last = int(end) - 1
    return Timeline(second(t, **kwargs) for t in range(last - seconds + 1, last + 1))


def test_recent_healthy_seconds_pass_on_the_fewest_that_decide() -> None:
    result = recent_load(healthy(), NOW + 0.5, PROFILE, 90.0, baseline_p95_ms=20.0, baseline_spread_ms=5.0)
    assert result is not None and result["ok"], result
    assert result["requests"] == 400 and result["failures"] == 0  # 4 s of 100: the first span that decides
    assert "background load, its last 4 s" in result["source"]


def test_recent_failures_are_judged_and_fail() -> None:
    failing = Timeline([*healthy(6).seconds[:2], *(second(t, failures=30) for t in range(int(NOW) - 4, int(NOW)))])
    result = recent_load(failing, NOW + 0.5, PROFILE, 90.0)
    assert result is not None and not result["ok"] and not result["errors_ok"], result


def test_recent_latency_far_over_the_load_s_own_baseline_is_not_normal() -> None:
    slow = healthy(ms=900)
    result = recent_load(slow, NOW + 0.5, PROFILE, 90.0, baseline_p95_ms=20.0, baseline_spread_ms=5.0)
    assert result is not None and not result["ok"] and not result["latency_ok"], result


def test_a_stale_load_is_no_evidence_of_the_present() -> None:
    assert recent_load(healthy(), NOW + RECENT_FRESH_S + 0.5, PROFILE, 90.0) is None
    assert recent_load(Timeline(), NOW, PROFILE, 90.0) is None


def test_too_few_answers_within_the_cap_is_undecided() -> None:
    sparse = healthy(seconds=30, requests=5)  # 150 answers in 30 s: 381 needed
    assert recent_load(sparse, NOW + 0.5, PROFILE, 20.0) is None


# --- load_within_slo: which evidence judges ------------------------------------------------------------------------
@pytest.fixture
def configuration(tmp_path: Path) -> dict:
    """A run's configuration whose game day load is a timeline file the test writes, the newest second just ended."""
    path = tmp_path / "timeline.jsonl"
    path.write_text("".join(json.dumps(s.to_json()) + "\n" for s in healthy(end=time.time()).seconds))
    settings = Settings(state_dir=tmp_path / "state")
    return {**RunContext.from_settings(settings).configuration(),
            LOAD_KEY: {"timeline": str(path), "baseline_p95_ms": 20.0, "baseline_spread_ms": 5.0}}


@pytest.fixture(autouse=True)
def fresh_run() -> Iterator[None]:
    probe_state.reset_run_state()
    yield
    probe_state.reset_run_state()


def test_before_the_method_the_background_load_judges_without_a_burst(configuration: dict) -> None:
    result = load_within_slo(configuration=configuration)
    assert result["ok"] and "background load" in result["source"], result


def test_after_the_method_the_background_is_not_read(configuration: dict) -> None:
    """After the method the burst judges; with no stack it cannot even start, so it cannot pass."""
    probe_state.method_started()
    with pytest.raises(TargetError, match="the local stack is not running"):
        load_within_slo(configuration=configuration)


def test_failing_background_seconds_are_never_a_pass(configuration: dict, tmp_path: Path) -> None:
    """Failures in the recent seconds send the steady state to its own burst (never a pass on them)."""
    path = Path(configuration[LOAD_KEY]["timeline"])
    end = int(time.time())
    path.write_text("".join(json.dumps(second(t, failures=20).to_json()) + "\n" for t in range(end - 10, end)))
    with pytest.raises(TargetError, match="the local stack is not running"):
        load_within_slo(configuration=configuration)
