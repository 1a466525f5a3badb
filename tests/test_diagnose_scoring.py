"""The confusion matrix of the game day's report, and the verdicts the faults expect being ones the rules give."""

from __future__ import annotations

from gameday.diagnose.rules import KINDS, Verdict
from gameday.diagnose.scoring import confusion_matrix
from gameday.faults import FAULTS
from tests.diagnose_fakes import PROFILE


def test_every_fault_expects_a_verdict_the_rules_can_give():
    for name, fault in FAULTS.items():
        params = fault.validate({"dependency": "postgres"} if "dependency" in name else {}, PROFILE)
        kind, _, dependency = fault.expected_verdict(params, PROFILE).partition(":")
        assert kind in KINDS, name
        assert dependency in ("", *(d.name for d in PROFILE.dependencies)), name


def test_confusion_matrix_counts_right_and_wrong_verdicts():
    matrix = confusion_matrix([
        ("failed-deployment", "failed-deployment"),
        ("all-replicas-down", "all-replicas-down"),
        ("configuration-problem", "all-replicas-down"),
        ("dependency-failure:postgres", Verdict("dependency-failure", "s", [], "postgres")),
    ])
    assert matrix.total == 4
    assert matrix.correct == 3
    assert matrix.accuracy == 0.75
    assert matrix.counts["configuration-problem"] == {"all-replicas-down": 1}
    assert matrix.misses() == [("configuration-problem", "all-replicas-down", 1)]
    table = matrix.to_markdown()
    assert table.splitlines()[0].startswith("| expected \\ actual | failed-deployment | all-replicas-down")
    assert "3/4 verdicts right (75%)" in table
    assert matrix.to_dict()["accuracy"] == 0.75


def test_a_verdict_that_recovered_scores_as_the_outage_it_recovered_from():
    recovered = Verdict("no-outage", "s", [], recovered_from="all-replicas-down")
    assert recovered.key == "no-outage"
    matrix = confusion_matrix([("all-replicas-down", recovered), ("no-outage", Verdict("no-outage", "s"))])
    assert matrix.accuracy == 1.0


def test_empty_confusion_matrix():
    matrix = confusion_matrix([])
    assert (matrix.total, matrix.accuracy, matrix.misses()) == (0, 1.0, [])
