"""Expected verdicts per fault and the confusion matrix of the game day's report."""

from __future__ import annotations

import pytest

from gameday.diagnose.rules import Verdict
from gameday.diagnose.scoring import confusion_matrix, expected_verdict
from gameday.errors import UsageError
from gameday.faults import FAULTS


@pytest.mark.parametrize(
    ("fault", "params", "expected"),
    [
        ("kill-replicas", {"rounds": 3}, "all-replicas-down"),
        ("freeze-replicas", {}, "replicas-hanging"),
        ("bad-release", {}, "failed-deployment"),
        ("bad-config", {}, "configuration-problem"),
        ("stop-dependency", {"dependency": "postgres"}, "dependency-failure:postgres"),
        ("stop-dependency", {"dependency": "redis"}, "dependency-degraded:redis"),
        ("stop-dependency", {"dependency": "kafka"}, "dependency-degraded:kafka"),
        ("hang-dependency", {"dependency": "postgres"}, "dependency-failure:postgres"),
        ("hang-dependency", {"dependency": "redis"}, "dependency-degraded:redis"),
        (None, None, "no-outage"),
    ],
)
def test_expected_verdict(fault, params, expected):
    assert expected_verdict(fault, params) == expected


def test_every_fault_of_the_catalogue_has_an_expected_verdict():
    for name in FAULTS:
        params = {"dependency": "postgres"} if "dependency" in name else {}
        assert expected_verdict(name, params)


def test_unknown_fault_or_dependency_is_one_clear_error():
    with pytest.raises(UsageError, match="no expected verdict for fault 'melt-cpu'"):
        expected_verdict("melt-cpu", {})
    with pytest.raises(UsageError, match="unknown dependency 'mysql'"):
        expected_verdict("stop-dependency", {"dependency": "mysql"})


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
