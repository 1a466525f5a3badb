"""An interrupted canary leaves nothing behind: 20 SIGINTs at seeded moments across its phases (its ledger entry
just written, a replica being stopped, one starting on the new release, a step being judged, the second step, the
promotion, the rollback of a bad release, and a second SIGINT during the rollback) each leave every replica running
its original release and in HAProxy's rotation, with the ledger empty and one line on stderr (the first ten here,
the other ten in ``test_canary_interrupts_rest.py``); a SIGKILL while supervisor stops a replica is undone by
``gameday abort`` from the ledger entry alone.

The moments are seen from outside, as an operator would catch them: supervisor's process states, the pod records,
the ledger and HAProxy's server states, polled; a seeded jitter after each moves the signal within the phase. Only
the moment varies: what is asserted after each interrupt is the same.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gameday.canary.signals import first_interrupts
from gameday.ledger import Ledger
from gameday.state import read_json
from gameday.targets.local.rollout import PODS_FILE
from gameday.targets.local.target import LocalTarget
from tests.helpers import wait_for

SEED = 25
INTERRUPTS = 20
LINE = "gameday: interrupted; faults of this run were undone (nothing of the canary is left)"


def _state(target: LocalTarget, name: str) -> str:
    return str(target.supervisor.info(name).get("statename"))


def _pod_version(target: LocalTarget, name: str) -> str | None:
    return read_json(target.state.path(*PODS_FILE), {}).get(name, {}).get("version")


def _ledger(target: LocalTarget) -> list[dict[str, Any]]:
    return read_json(target.state.ledger, [])


def _up(target: LocalTarget) -> dict[str, str]:
    return {s.name: s.status for s in target.lb_runtime.servers()}


@dataclass(frozen=True)
class Moment:
    """A phase of the canary, seen from outside, and how far into it the signal may land."""

    name: str
    release: str  # good or bad
    reached: Callable[[LocalTarget, str], bool]  # (target, the new version) -> the phase has begun
    jitter_s: float
    args: tuple[str, ...] = ()
    again: Callable[[LocalTarget, str], bool] | None = None  # a second SIGINT once this holds (the rollback)
    times: int = 2  # of the 20 interrupts: the cheap moments more often, the late ones (seconds each) less


def _switching(name: str) -> Callable[[LocalTarget, str], bool]:
    """``name`` is being replaced: supervisor stops it, or it is on the new release and not running yet."""
    return lambda t, new: _state(t, name) in ("STOPPING", "STOPPED") or (
        _pod_version(t, name) == new and _state(t, name) != "RUNNING")


# steps decided on the least evidence (30 requests a side), so that the late phases come within seconds
QUICK = ("--error-tolerance", "0.5", "--latency-tolerance-ms", "1000", "--p95-ratio", "100", "--confidence", "0.5")
MOMENTS = [
    Moment("entry written, before the first switch", "good",
           lambda t, new: any(e["kind"] == "canary" for e in _ledger(t)), 0.2, times=3),
    Moment("supervisor stopping replica-0", "good", lambda t, new: _state(t, "replica-0") == "STOPPING", 0.1,
           times=4),
    Moment("replica-0 starting on the new release", "good",
           lambda t, new: _pod_version(t, "replica-0") == new, 0.3, times=3),
    Moment("step 1 judged", "good", lambda t, new: _pod_version(t, "replica-0") == new
           and _up(t).get("replica-0") == "UP", 1.0, times=3),
    Moment("step 2's switch", "good", _switching("replica-1"), 0.5, QUICK),
    Moment("promotion", "good", _switching("replica-2"), 0.8, ("--steps", "1", *QUICK)),
    Moment("rollback of a bad release", "bad",
           lambda t, new: any(e["state"] == "rolling-back" for e in _ledger(t)), 0.4, times=1),
    Moment("twice: step 1, then again during the rollback", "good", lambda t, new: _pod_version(t, "replica-0") == new
           and _up(t).get("replica-0") == "UP", 0.5,
           again=lambda t, new: _state(t, "replica-0") != "RUNNING"),
]


def _start(version: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gameday.cli", "canary", version, "--users", "4",
                             "--step-timeout", "30", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def _serving(target: LocalTarget, name: str) -> str | None:
    """The release the replica's own process reports on its readiness endpoint (None: not answering 200)."""
    url = f"http://127.0.0.1:{target.port(name)}{target.profile.service.readiness_path}"
    try:
        res = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None
    return res.json().get("version") if res.status_code == 200 else None


def assert_nothing_left(target: LocalTarget, release: str, what: str) -> None:
    """Every replica up, serving ``release``, in HAProxy's rotation; the ledger empty; the rollout on ``release``."""
    assert _ledger(target) == [], what
    assert target.current_revision().version == release, what  # type: ignore[union-attr]
    states = {n: _state(target, n) for n in target.replica_names}
    assert set(states.values()) <= {"RUNNING", "STARTING"}, (what, states)
    assert {n: _serving(target, n) for n in target.replica_names} == dict.fromkeys(target.replica_names, release), what
    assert {p.get("version") for p in read_json(target.state.path(*PODS_FILE), {}).values()} == {release}, what
    assert "MAINT" not in " ".join(_up(target).values()), (what, _up(target))  # nothing left out on purpose
    wait_for(lambda: set(_up(target).values()) == {"UP"}, 10, what=f"every replica UP in HAProxy ({what})")


def _interrupt(target: LocalTarget, moment: Moment, jitter: float) -> tuple[int, str, float]:
    """Run one canary, SIGINT it at ``moment`` plus ``jitter``; (exit code, stderr, seconds it took)."""
    local = target.profile.local
    assert local is not None
    new = local.releases[0] if moment.release == "good" else target.bad_release()
    started = time.monotonic()
    proc = _start(new, *moment.args)
    try:
        wait_for(lambda: moment.reached(target, new) or proc.poll() is not None, 60, interval=0.02,
                 what=moment.name)
        assert proc.poll() is None, f"{moment.name}: the canary ended first: {proc.communicate()[1][-1000:]}"
        with contextlib.suppress(subprocess.TimeoutExpired):  # the seeded moment within the phase
            proc.wait(jitter)
        assert proc.poll() is None, f"{moment.name}: the canary ended before its SIGINT (+{jitter}s)"
        proc.send_signal(signal.SIGINT)
        if moment.again is not None:
            wait_for(lambda: moment.again(target, new) or proc.poll() is not None,  # type: ignore[misc]
                     30, interval=0.02, what="the rollback under way")
            assert proc.poll() is None, f"{moment.name}: the rollback ended before the second SIGINT"
            proc.send_signal(signal.SIGINT)  # an impatient operator: the rollback must go on
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err, time.monotonic() - started


def schedule() -> list[tuple[Moment, float]]:
    """The 20 seeded interrupts, each a moment and its jitter, in the order they run."""
    rng = random.Random(SEED)
    moments = [m for m in MOMENTS for _ in range(m.times)]
    assert len(moments) == INTERRUPTS
    rng.shuffle(moments)
    return [(m, round(rng.uniform(0, m.jitter_s), 3)) for m in moments]


def run_interrupts(target: LocalTarget, first: int, last: int) -> None:
    """Interrupts ``first``..``last`` (1-based) of :func:`schedule`, each followed by the same assertions. The 20
    are run by two test files (xdist gives each file to one worker, so the two halves run side by side)."""
    release = target.current_revision().version  # type: ignore[union-attr]
    took: list[str] = []
    for i, (moment, jitter) in enumerate(schedule()[first - 1:last], start=first):
        what = f"interrupt {i}: {moment.name} + {jitter}s"
        code, err, seconds = _interrupt(target, moment, jitter)
        took.append(f"{what}: {seconds:.1f}s")
        assert code == 130, (what, err[-2000:])
        assert err.strip().splitlines()[-1] == LINE, (what, err[-2000:])
        assert "Traceback" not in err, (what, err[-2000:])
        assert_nothing_left(target, release, what)
    print("\n" + "\n".join(took))


@pytest.mark.slow
def test_sigints_1_to_10_at_seeded_moments_leave_every_replica_on_its_release(healthy: LocalTarget) -> None:
    run_interrupts(healthy, 1, 10)  # 11 to 20: tests/test_canary_interrupts_rest.py


@pytest.mark.slow
def test_a_canary_killed_while_supervisor_stops_a_replica_is_undone_by_abort(healthy: LocalTarget) -> None:
    release = healthy.current_revision().version  # type: ignore[union-attr]
    new = healthy.profile.local.releases[0]  # type: ignore[union-attr]
    proc = _start(new)
    try:
        wait_for(lambda: _state(healthy, "replica-0") == "STOPPING", 60, interval=0.02, what="replica-0 stopping")
        proc.kill()  # no rollback: the ledger entry, written before the first change, is all that is left
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [e.kind for e in Ledger(healthy.state.ledger).entries()] == ["canary"]
    wait_for(lambda: _state(healthy, "replica-0") != "STOPPING", 30, what="supervisor done stopping replica-0")
    assert _state(healthy, "replica-0") == "STOPPED"  # what the interrupted switch left
    res = subprocess.run([sys.executable, "-m", "gameday.cli", "abort"], capture_output=True, text=True, timeout=120,
                         env=os.environ.copy())
    assert res.returncode == 0, res.stderr
    assert "undone: canary" in res.stdout
    assert_nothing_left(healthy, release, "after gameday abort")


@pytest.mark.slow
def test_sigterm_while_supervisor_stops_a_replica_rolls_back_with_its_own_line(healthy: LocalTarget) -> None:
    release = healthy.current_revision().version  # type: ignore[union-attr]
    proc = _start(healthy.profile.local.releases[0])  # type: ignore[union-attr]
    try:
        wait_for(lambda: _state(healthy, "replica-0") == "STOPPING", 60, interval=0.02, what="replica-0 stopping")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "gameday: terminated; faults of this run were undone", err
    assert_nothing_left(healthy, release, "after SIGTERM")


def test_the_first_signal_interrupts_and_the_later_ones_wait_for_the_rollback() -> None:
    with first_interrupts() as signals:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)  # during the rollback: noted, nothing raised
        signal.raise_signal(signal.SIGTERM)
    assert signals.received == [signal.SIGINT, signal.SIGINT, signal.SIGTERM]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers in place are back

    with first_interrupts() as signals:
        signals.hold()  # a rollback after an error: not even the first signal cuts it short
        signal.raise_signal(signal.SIGINT)
    assert signals.received == [signal.SIGINT]
