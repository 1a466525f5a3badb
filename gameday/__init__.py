"""gameday: the Service Outage runbook, turned into something that runs."""

__version__ = "0.1.0"
