"""How long the game day waits for the page, and when a missing page is the alert's fault.

A heavy service's bad release (replicas ready ~10 s, crashing, restarted out of phase) is down in pieces: the
paging rule's ``for:`` restarts each time a replica answers, as it should. The wait used to end 45 s after the
injection, before a rollout of 3 x 15 s was even done, and failed the experiment with "did not fire within 45s"
(heavy-shop, measured). The page is due the rule's own time after the outage began as the probes see it; a
flapping service moves that clock, up to the runbook's first escalation. Driven on a real track fed with the
observations its prober would give."""

from __future__ import annotations

from gameday.calls import Call
from gameday.notify import escalation
from gameday.run.paging import not_due, page_deadline
from gameday.run.track import ExperimentTrack
from gameday.symptoms import Observation

FOR_S = 15.0  # the local rule: for 15s
DUE_S = 2 * (FOR_S + 4 + 2)  # ... range 4s, two 1 s evaluations: twice what it takes to fire


def _obs(at: float, path: str, ok: bool) -> Observation:
    return Observation(at, Call(path, "GET", f"/{path}", 200 if ok else 503, 200, 5.0))


def _track(injected: float = 100.0) -> ExperimentTrack:
    track = ExperimentTrack("failed-deployment", "bad-release", {}, expects_outage=True)
    track.mark_injecting(injected)
    return track


def _feed(track: ExperimentTrack, at: float, ok: bool, paths: tuple[str, ...] = ("health", "products")) -> None:
    for path in paths:
        track.observe(_obs(at, path, ok))


def test_a_steady_outage_is_due_the_rule_time_after_it_began() -> None:
    track = _track()
    _feed(track, 101.0, True)
    assert page_deadline(track, DUE_S, float("inf"), 101.0) == 101.005 + DUE_S  # up: due after it came back
    for t in (110.0, 110.5, 111.0):
        _feed(track, t, False)
    assert track.down_since == 110.005 and track.detected_at is not None
    assert page_deadline(track, DUE_S, float("inf"), 111.0) == 110.005 + DUE_S
    assert track.longest_down_s(130.0) == 130.0 - 110.005


def test_one_failing_path_is_down_and_only_every_path_answering_is_up() -> None:
    """What a blackbox alert's min(probe_success) == 0 sees: any probed path failing."""
    track = _track()
    _feed(track, 110.0, False, ("products",))
    _feed(track, 110.2, True, ("health",))
    assert track.down_since == 110.005  # the health path answers, the products page does not
    _feed(track, 111.0, True, ("products",))
    assert track.down_since is None and track.up_since == 111.005
    assert track.longest_down_s(120.0) == 111.005 - 110.005


def test_a_flapping_service_moves_the_deadline_the_rule_would_move() -> None:
    track = _track()
    _feed(track, 110.0, False)
    first = page_deadline(track, DUE_S, float("inf"), 110.0)
    _feed(track, 125.0, True)  # a replica of the bad release is ready for a while
    _feed(track, 135.0, False)  # ... and crashes
    assert page_deadline(track, DUE_S, float("inf"), 135.0) == 135.005 + DUE_S > first
    assert track.longest_down_s(140.0) == 125.005 - 110.005  # the rule's for: never saw more in one piece


def test_the_runbook_first_escalation_bounds_a_flapping_wait() -> None:
    track = _track()
    policy = (escalation.EscalationStep(0, "on-call engineer", "page"),
              escalation.EscalationStep(300, "team lead", "call"))
    _feed(track, 110.0, False)
    _feed(track, 110.5, False)
    assert track.detected_at is not None
    ceiling = track.detected_at + escalation.escalates_after_s(policy)
    for t in range(120, 420, 20):  # flaps for five minutes
        _feed(track, float(t), True)
        _feed(track, t + 10.0, False)
    assert page_deadline(track, DUE_S, ceiling, 400.0) == ceiling


def test_no_probe_seen_is_due_after_the_injection() -> None:
    track = _track(injected=100.0)
    assert page_deadline(track, DUE_S, float("inf"), 150.0) == 100.0 + DUE_S


def test_escalation_after_is_the_first_later_step() -> None:
    step = escalation.EscalationStep
    assert escalation.escalates_after_s((step(0, "a", ""), step(900, "c", ""), step(300, "b", ""))) == 300
    assert escalation.escalates_after_s((step(0, "a", ""),)) is None
    assert escalation.escalates_after_s(()) is None


def test_a_page_missing_after_an_outage_longer_than_the_for_was_due() -> None:
    assert not_due(40.0, FOR_S, 300.0) is None
    assert not_due(16.0, FOR_S, 300.0) is None  # down past its for:, the windows' lag is the alert's to answer for
    assert not_due(40.0, None, 300.0) is None  # the rule could not be read: judged, never excused


def test_a_page_missing_for_a_flapping_service_was_not_due() -> None:
    why = not_due(12.0, FOR_S, 300.0)
    assert why is not None and "12s in a row" in why and "for: 15s" in why


def test_a_rule_slower_than_the_first_escalation_is_always_due() -> None:
    """A `for:` raised to 10 minutes would otherwise excuse every page it misses."""
    assert not_due(290.0, 600.0, 300.0) is None
