"""Two runs side by side: per experiment and phase, the difference and whether it is beyond noise.

Noise is the history's own: with at least ``Policy.min_runs`` past values of that experiment and phase
(same target and profile), a difference is beyond noise when it is larger than the regression gate's
noise band (:func:`gameday.history.gate.noise`); with fewer, the answer is "noise unknown".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from gameday.history.gate import Policy, baseline, noise
from gameday.history.records import RunRecord
from gameday.history.schema import PHASES


@dataclass(frozen=True)
class Difference:
    """One experiment's phase in run A and run B."""

    experiment: str
    phase: str
    a: float | None
    b: float | None
    noise_s: float | None  # None: fewer than min_runs past values

    @property
    def delta(self) -> float | None:
        """B minus A (seconds)."""
        return round(self.b - self.a, 2) if self.a is not None and self.b is not None else None

    @property
    def judgement(self) -> str:
        """beyond noise / within noise / noise unknown / only in one run."""
        if self.delta is None:
            return "not in both runs"
        if self.noise_s is None:
            return "noise unknown"
        return "beyond noise" if abs(self.delta) > self.noise_s else "within noise"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {**asdict(self), "delta": self.delta, "judgement": self.judgement}


def compare(a: RunRecord, b: RunRecord, history: dict[str, dict[str, list[float]]], policy: Policy) -> list[Difference]:
    """Every experiment of either run, every phase either has; ``history[experiment][phase]`` oldest first."""
    names = [e.name for e in a.experiments] + [e.name for e in b.experiments if not a.experiment(e.name)]
    out = []
    for name in names:
        ea, eb = a.experiment(name), b.experiment(name)
        for phase in PHASES:
            va = ea.phases.get(phase) if ea else None
            vb = eb.phases.get(phase) if eb else None
            if va is None and vb is None:
                continue
            base = baseline(history.get(name, {}).get(phase, []), policy)
            out.append(Difference(name, phase, va, vb, round(noise(base, policy, phase), 2) if base else None))
    return out
