"""What the probes of one run share: the failure they raise, and what one run carries from probe to probe.

A run is one process (see :mod:`gameday.chaos.context`), so its state is this module's; the runner forgets the
previous run's at the start of each (:func:`reset_run_state`).
"""

from __future__ import annotations

from typing import Any

from gameday.chaos.context import forget_contexts
from gameday.errors import GamedayError

# What one run (one process) carries from probe to probe: the latency baseline measured by the first
# steady-state check, the values the setup journey captured (probe paths need them), and the values of the
# journeys that worked during a degraded outage (to follow them once the dependency is back).
RUN: dict[str, Any] = {}


class ProbeFailed(GamedayError):
    """What an experiment claims was not observed before the probe's deadline."""


# its journal line reads "gameday.chaos.probes.ProbeFailed: ..." (chaostoolkit writes the class's module), as it
# did when the probes were one module: verdicts and reports quote that line
ProbeFailed.__module__ = "gameday.chaos.probes"


def method_started() -> None:
    """The run's method has begun (the runner says so): from now on the steady state is the one after the fault."""
    RUN["method_started"] = True


def reset_run_state() -> None:
    """Forget the baseline, the captures and the context (target, profile) of a previous run in this process (the
    runner calls it)."""
    RUN.clear()
    forget_contexts()
