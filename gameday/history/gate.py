"""The regression gate: is an experiment's detect, recover or verify time beyond its history's noise?

Pure decisions over numbers, tested at the edges. The baseline of one experiment and figure is the
median and the median absolute deviation (MAD) of the same target's and profile's last passed runs.
A value regresses when it is over::

    median + max(k × 1.4826 × MAD, relative × median, absolute_s)    (verify: its own, larger relative)

1.4826 × MAD estimates one standard deviation of normal noise without letting one outlier run widen
it; the relative and absolute floors keep a very steady history (MAD ≈ 0) from failing on the
scheduling jitter of a loaded 2-core machine. The defaults (``HistorySettings``) are measured in ``make bench``
(``bench/run.py: bench_regression``): the false-positive rate on repeated healthy runs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from gameday.config import HistorySettings

FIGURES = ("detect", "recover", "verify")
MAD_TO_SIGMA = 1.4826
EXIT_REGRESSION = 4  # docs/history.md: 1 is "the game day failed", 2 bad input, 3 refused (safety)


@dataclass(frozen=True)
class Policy:
    """How much history is enough and how far from it is a regression (``history.regression_*`` settings)."""

    k: float
    relative: float
    absolute_s: float
    min_runs: int
    window: int  # the last runs that make the baseline
    relative_verify: float | None = None  # the time to verify's own relative floor (None: ``relative``)

    @classmethod
    def from_settings(cls, history: HistorySettings) -> Policy:
        """The policy the configuration sets."""
        return cls(history.regression_k, history.regression_relative, history.regression_absolute_s,
                   history.regression_min_runs, history.regression_window, history.regression_relative_verify)

    def relative_of(self, figure: str) -> float:
        """The relative floor of one figure (phase)."""
        return self.relative_verify if figure == "verify" and self.relative_verify is not None else self.relative


@dataclass(frozen=True)
class Baseline:
    """Median and MAD of a figure's history."""

    median: float
    mad: float
    runs: int


@dataclass(frozen=True)
class Finding:
    """One experiment's figure judged against its baseline (``baseline`` None: not enough history)."""

    experiment: str
    figure: str
    value: float
    baseline: Baseline | None
    threshold: float | None
    history_runs: int = 0  # the past values there were (fewer than ``min_runs``: not judged)

    @property
    def regressed(self) -> bool:
        """Over the threshold (never without enough history)."""
        return self.threshold is not None and self.value > self.threshold

    def line(self) -> str:
        """One line for a person."""
        if self.baseline is None or self.threshold is None:
            return (f"{self.experiment}: {self.figure} {self.value:.2f} s: not judged, not enough history "
                    f"({self.history_runs} runs)")
        b = self.baseline
        verdict = "REGRESSION" if self.regressed else "ok"
        return (f"{self.experiment}: {self.figure} {self.value:.2f} s {verdict}: baseline median {b.median:.2f} s "
                f"(MAD {b.mad:.2f} s, {b.runs} runs), threshold {self.threshold:.2f} s")


@dataclass
class GateResult:
    """Every figure judged."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def regressions(self) -> list[Finding]:
        """The figures over their threshold."""
        return [f for f in self.findings if f.regressed]

    @property
    def not_enough_history(self) -> list[Finding]:
        """The figures with fewer than ``min_runs`` past values."""
        return [f for f in self.findings if f.baseline is None]

    def not_judged(self, min_runs: int) -> str | None:
        """``not judged: 2 of 5 runs (postgres-down detect, postgres-down recover)``, grouped by how much history
        there was; None when every figure was judged. A gate that had too little history to judge passes, and
        must say so where it is read, or its exit 0 reads as "no regression"."""
        by_runs: dict[int, list[str]] = {}
        for f in self.not_enough_history:
            by_runs.setdefault(f.history_runs, []).append(f"{f.experiment} {f.figure}")
        if not by_runs:
            return None
        return "not judged: " + "; ".join(f"{n} of {min_runs} runs ({', '.join(sorted(names))})"
                                          for n, names in sorted(by_runs.items()))


def baseline(values: list[float], policy: Policy) -> Baseline | None:
    """Median and MAD of the last ``window`` values; None with fewer than ``min_runs``."""
    recent = values[-policy.window:]
    if len(recent) < policy.min_runs:
        return None
    med = statistics.median(recent)
    return Baseline(med, statistics.median(abs(v - med) for v in recent), len(recent))


def noise(b: Baseline, policy: Policy, figure: str = "") -> float:
    """How far from the median a value of ``figure`` may be and still be noise."""
    return max(policy.k * MAD_TO_SIGMA * b.mad, policy.relative_of(figure) * b.median, policy.absolute_s)


def threshold(b: Baseline, policy: Policy, figure: str = "") -> float:
    """The value over which a figure regresses."""
    return b.median + noise(b, policy, figure)


def judge(current: dict[str, dict[str, float | None]], history: dict[str, dict[str, list[float]]],
          policy: Policy) -> GateResult:
    """Each experiment's figures (``current[experiment][figure]``) against their past values, oldest first."""
    result = GateResult()
    for experiment, figures in current.items():
        for figure in FIGURES:
            value = figures.get(figure)
            if value is None:
                continue  # not reached (a failed or degraded experiment): the game day's verdict says so
            past = history.get(experiment, {}).get(figure, [])
            b = baseline(past, policy)
            result.findings.append(Finding(experiment, figure, value, b, threshold(b, policy, figure) if b else None,
                                           len(past[-policy.window:])))
    return result
