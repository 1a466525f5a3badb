"""A canary step whose measurement fails: inconclusive (the canary is refused), never promoted; a measurement that
reads again decides the step on the whole window."""

from __future__ import annotations

import random

from gameday.canary.analysis import Decision, Tolerances
from gameday.canary.run import Step, measure_step, step_line
from gameday.targets.canary import Served, Window


class Counters:
    """A stand-in for the load balancer's per-server records: fails ``failures`` times, then reads a clean window
    with enough traffic on each side to promote."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        rng = random.Random(7)
        self.side = Served(400, 0, tuple(rng.uniform(5, 15) for _ in range(400)), first_at=1.0)

    def served(self, window: Window) -> tuple[Served, Served]:
        if self.failures:
            self.failures -= 1
            raise OSError("haproxy.log: Input/output error")
        return self.side, self.side


def test_a_measurement_that_fails_until_the_deadline_is_inconclusive_never_promote():
    step = Step(1, 3, 0.0)
    measure_step(Counters(failures=10**6), Window(0.0), step, Tolerances(), timeout=0.6, running=lambda: True)  # type: ignore[arg-type]
    assert step.decision == Decision.INCONCLUSIVE and step.measurement_failures == step.evaluations >= 2
    assert step.verdict is not None and step.verdict.reasons == (
        "measurement failed: OSError: haproxy.log: Input/output error",)
    assert step_line(step) == ("step 1/3: measurement failed: OSError: haproxy.log: Input/output error "
                               "-> inconclusive")
    assert step.to_dict()["measurement_failures"] == step.evaluations


def test_a_measurement_that_reads_again_decides_on_the_whole_window():
    step = Step(1, 3, 0.0)
    measure_step(Counters(failures=1), Window(0.0), step, Tolerances(), timeout=5, running=lambda: True)  # type: ignore[arg-type]
    assert step.decision == Decision.PROMOTE and step.measurement_failures == 1 and step.evaluations == 2
