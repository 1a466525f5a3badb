"""A chaostoolkit control that lets the game day see each experiment's phases as they happen.

The game day registers it as a global control (``settings["controls"]``). From the end of the first probe after
the fault (the symptom seen) to the first resolution action of the method, the current
:class:`~gameday.run.track.ExperimentTrack` does what the on-call engineer does between detection and resolution:
wait for the page, diagnose.
"""

from __future__ import annotations

import time
from typing import Any

from gameday import interrupts
from gameday.run.track import current_track

INJECT_FUNCS = {"inject_fault"}
NOT_RESOLUTION_FUNCS = INJECT_FUNCS | {"undo_faults"}


def _func(activity: dict[str, Any]) -> str:
    return str((activity.get("provider") or {}).get("func", ""))


def before_activity_control(context: dict[str, Any], **kwargs: Any) -> None:
    """Record when each method activity starts; run the pre-resolution steps before the first resolution."""
    track = current_track()
    if track is None or track.phase == "rollbacks":
        return
    func = _func(context)
    now = time.time()
    if func in INJECT_FUNCS:
        track.mark_injecting(now)
    elif (context.get("type") == "action" and track.injected_at and not track.resolution_started_at
          and func not in NOT_RESOLUTION_FUNCS):
        track.before_resolution()
        interrupts.checkpoint()  # an interrupt Python lost while waiting for the page stops the run before resolving
        track.mark_resolution(time.time(), context.get("name", func))
    track.activity = context.get("name", func)


def after_activity_control(context: dict[str, Any], state: Any = None, **kwargs: Any) -> None:
    """Record when the fault is in place; once the first probe after it (the symptom's) ended, the page and the
    diagnosis begin beside the rest of the method."""
    track = current_track()
    if track is None or track.phase == "rollbacks":
        return
    if _func(context) in INJECT_FUNCS:
        track.mark_injected(time.time())
    elif context.get("type") == "probe" and track.fault_in_place_at and track.method_ended_at is None:
        track.begin_diagnosis()


def before_rollback_control(context: dict[str, Any], **kwargs: Any) -> None:
    """The method is over: rollbacks follow."""
    track = current_track()
    if track is not None:
        track.phase = "rollbacks"


def before_hypothesis_control(context: dict[str, Any], **kwargs: Any) -> None:
    """Steady-state checks (before the method, or after it)."""
    track = current_track()
    if track is not None and track.phase != "rollbacks":
        track.phase = "verifying" if track.injected_at else "steady state"
        if track.injected_at and track.method_ended_at is None:
            track.method_ended_at = time.time()
