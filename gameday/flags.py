"""Bounds of command-line flags, checked first: a bad value is one line and exit 2 before anything changes.

Typer parses a flag's type; what a value means (a negative wait, no users, a baseline of NaN) is checked here,
by each command before it reads the profile, takes a lock or reaches the target, so a refusal leaves no trace.
"""

from __future__ import annotations

import math

from gameday.errors import UsageError


def within(flag: str, value: float, low: float, high: float | None = None, unit: str = "") -> None:
    """Refuse ``value`` of ``flag`` unless it is finite and low <= value (<= high when given)."""
    suffix = f" {unit}" if unit else ""
    if math.isfinite(value) and low <= value and (high is None or value <= high):
        return
    bounds = f"{low:g}-{high:g}" if high is not None else f"at least {low:g}"
    raise UsageError(f"{flag} must be {bounds}{suffix}, got {value:g}")
