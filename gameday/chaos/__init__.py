"""The chaostoolkit extension of gameday: actions and probes over the configured target.

Experiments call ``gameday.chaos.actions`` and ``gameday.chaos.probes``; they never name a target:
each activity builds it from the run's context, which chaostoolkit hands it in the experiment's ``configuration``
(:class:`gameday.context.RunContext`), so one experiment file runs unchanged on the local stack and on Kubernetes.
``discover`` follows the convention of chaostoolkit extensions (``chaos discover``); it lists the runbook packages'
own actions too (``gameday.runbooks.<name>.actions``, :mod:`gameday.runbooks`).
"""

from __future__ import annotations

from typing import Any

from chaoslib.discovery.discover import discover_actions, discover_probes, initialize_discovery_result

from gameday import runbooks
from gameday.config import Settings
from gameday.targets import get_target
from gameday.version import __version__

__all__ = ["__version__", "discover"]


def discover(discover_system: bool = True, settings: Settings | None = None) -> dict[str, Any]:
    """Describe the extension's activities (and, when asked, the configured target) for ``chaos discover``;
    ``settings``: the configuration to describe (default: the environment's, as ``chaos discover`` runs)."""
    discovery = initialize_discovery_result("gameday", __version__, "gameday")
    discovery["activities"].extend(discover_actions("gameday.chaos.actions"))
    discovery["activities"].extend(discover_probes("gameday.chaos.probes"))
    discovery["activities"].extend(discover_probes("gameday.chaos.steady"))
    discovery["activities"].extend(discover_probes("gameday.chaos.outcome"))
    for module in runbooks.modules("actions"):
        discovery["activities"].extend(discover_actions(module.__name__))
    if discover_system:
        discovery["system"] = _system(settings if settings is not None else Settings())
    return discovery


def _system(settings: Settings) -> dict[str, Any]:
    """The configured target as ``chaos discover`` reports it (never fails: discovery is read-only)."""
    try:
        target = get_target(settings)
        return {"target": settings.target, "identity": target.identity(), "base_url": target.base_url()}
    except Exception as exc:  # discovery must work without a running target
        return {"target": settings.target, "error": str(exc)}
