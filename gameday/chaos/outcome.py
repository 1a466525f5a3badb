"""What losing a dependency should look like to users, as the service profile says: an outage, or degraded.

postgres-down and redis-down are the same experiment for every service; whether losing the dependency is an outage
(the runbook's Symptoms must all appear) or leaves the service degraded but serving (the runbook's Prevention at
work) is the profile's ``on_outage`` for that dependency, not something the experiment states.
"""

from __future__ import annotations

from typing import Any

from gameday.chaos.context import Configuration, run_context
from gameday.chaos.symptom_probes import observe_degraded, observe_outage

__all__ = ["dependency_loss_observed"]


def dependency_loss_observed(dependency: str, within_s: float = 30.0, repeats: int = 3,
                             *, configuration: Configuration = None) -> dict[str, Any]:
    """The runbook's Symptoms when the profile says the service cannot work without ``dependency``
    (``on_outage: outage``); otherwise degraded but serving (``on_outage: degraded``). Raises when not seen."""
    ctx = run_context(configuration)
    if ctx.profile.dependency(dependency).on_outage == "outage":
        return {"expected": "outage", **observe_outage(ctx, within_s)}
    return {"expected": "degraded", **observe_degraded(ctx, dependency, within_s, repeats)}
