"""gameday: the Service Outage runbook, turned into something that runs."""

from gameday.version import __version__

__all__ = ["__version__", "discover"]


def discover(discover_system: bool = True) -> dict:
    """chaostoolkit's entry point for ``chaos discover gameday``: the actions and probes of gameday.chaos."""
    from gameday.chaos import discover as discover_chaos

    return discover_chaos(discover_system)
