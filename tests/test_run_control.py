"""The game day's chaostoolkit control: once the method's first probe after the fault ended (the symptom seen), the
on-call part (wait for the page, diagnose) runs beside the runbook checks the method runs next, and the first
resolution action waits for it. Driven with the contexts chaostoolkit passes, on a real track and real threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from gameday import interrupts
from gameday.run import control
from gameday.run.track import ExperimentTrack, set_current
from tests.helpers import wait_for

INJECT = {"type": "action", "name": "inject-fault", "provider": {"func": "inject_fault"}}
SYMPTOM = {"type": "probe", "name": "dependency-loss", "provider": {"func": "dependency_loss_observed"}}
CHECK = {"type": "probe", "name": "check-dependencies", "provider": {"func": "check_dependencies"}}
RESOLVE = {"type": "action", "name": "restore", "provider": {"func": "restore_dependency_link"}}


@pytest.fixture
def track() -> Iterator[ExperimentTrack]:
    t = ExperimentTrack("dependency-blackhole", "dependency-blackhole", {}, expects_outage=False)
    set_current(t)
    try:
        yield t
    finally:
        set_current(None)
        interrupts.clear()


def _activity(context: dict) -> None:
    """One method activity as chaostoolkit runs it: its controls around it."""
    control.before_activity_control(context)
    control.after_activity_control(context)


def test_the_diagnosis_begins_when_the_symptom_is_seen_and_overlaps_the_runbook_checks(track: ExperimentTrack) -> None:
    began, release = threading.Event(), threading.Event()
    done: list[float] = []
    track.pre_resolution.append(lambda t: (began.set(), release.wait(10), done.append(time.time())))
    _activity(INJECT)
    assert not began.is_set()  # no symptom seen yet: nothing to diagnose
    _activity(SYMPTOM)
    assert began.wait(5), "the diagnosis did not begin when the symptom probe ended"
    control.before_activity_control(CHECK)  # the method's own dependency check runs meanwhile
    assert track.resolution_started_at is None and not done
    control.after_activity_control(CHECK)
    threading.Timer(0.3, release.set).start()
    control.before_activity_control(RESOLVE)  # the resolution waits for the diagnosis
    assert done and track.resolution_started_at is not None and track.resolution_started_at >= done[0]
    assert track.phase == "resolving"


def test_a_resolution_with_no_probe_before_it_diagnoses_first(track: ExperimentTrack) -> None:
    ran: list[float] = []
    track.pre_resolution.append(lambda t: ran.append(time.time()))
    _activity(INJECT)
    control.before_activity_control(RESOLVE)
    assert ran and track.resolution_started_at is not None and track.resolution_started_at >= ran[0]


def test_the_steady_state_after_the_method_begins_no_diagnosis(track: ExperimentTrack) -> None:
    ran: list[str] = []
    track.pre_resolution.append(lambda t: ran.append("diagnosed"))
    _activity(INJECT)
    control.before_hypothesis_control({})  # the method ended without a resolution action
    _activity({"type": "probe", "name": "api-answers", "provider": {"func": "http"}})
    assert track.method_ended_at is not None
    assert ran == [] and track.phase == "verifying"


def test_a_ctrl_c_while_the_resolution_waits_for_the_diagnosis_lands_at_once(track: ExperimentTrack) -> None:
    release = threading.Event()
    track.pre_resolution.append(lambda t: release.wait(30))  # a page that never comes (bounded by its own wait)
    _activity(INJECT)
    _activity(SYMPTOM)
    interrupts.set_pending(KeyboardInterrupt())
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            control.before_activity_control(RESOLVE)
        assert time.monotonic() - started < 1.0
        assert track.resolution_started_at is None
    finally:
        release.set()
    wait_for(lambda: not any(t.name.startswith("diagnose-") and t.is_alive() for t in threading.enumerate()), 5,
             what="the diagnosis thread ended")
