"""Blind trials on the local stack: each runbook outage caused by hand, without gameday (``kill -9``, supervisor's
XML-RPC API, ``redis-cli CLIENT PAUSE``, SIGSTOP, files edited on disk), and ``gameday diagnose`` must name the
cause from what an on-call engineer sees; never "no outage" on a broken stack. The trials are :mod:`bench.blind`'s,
which the bench runs into a confusion matrix."""

from __future__ import annotations

import pytest

from bench.blind import LOCAL_TRIALS, Outcome, hands_for, run_trial, summarize
from gameday.diagnose.rules import NO_OUTAGE

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("trial", LOCAL_TRIALS, ids=lambda t: t.name)
def test_an_outage_caused_by_hand_gets_its_cause(healthy, settings, trial):
    outcome, undo = run_trial(trial, hands_for(healthy, settings), healthy.profile)
    try:
        print(f"{trial.name}: {outcome.verdict} ({outcome.confidence:.0%}) in {outcome.duration_s:.1f}s")
        assert outcome.verdict != NO_OUTAGE, outcome.summary
        assert outcome.verdict == outcome.cause, outcome.summary
    finally:
        undo()


def test_the_confusion_matrix_counts_rights_wrongs_and_healthy_verdicts_on_broken_stacks():
    outcomes = [Outcome("a", "all-replicas-down", "all-replicas-down", "", 1.0),
                Outcome("b", "replicas-hanging", "no-outage", "", 1.0),
                Outcome("c", "replicas-hanging", "replicas-hanging", "", 0.9)]
    summary = summarize(outcomes)
    assert summary["matrix"] == {"all-replicas-down": {"all-replicas-down": 1},
                                 "replicas-hanging": {"no-outage": 1, "replicas-hanging": 1}}
    assert (summary["right"], summary["total"], summary["healthy_on_broken"]) == (2, 3, 1)
