"""Verdict keys: the words a diagnosis decides and a fault expects, as :mod:`gameday.reasons` is for events.

A fault says which verdict its outage should get (``Fault.expected_verdict``); the diagnosis, a layer above the
faults, decides one from what it sees. Both name it with these keys, so they live below both: the diagnosis adds
their titles and the runbook's actions (:mod:`gameday.diagnose.verdicts`), the faults only name them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gameday.profile import Profile

NO_OUTAGE = "no-outage"
FAILED_DEPLOYMENT = "failed-deployment"
CONFIGURATION_PROBLEM = "configuration-problem"
DEPENDENCY_FAILURE = "dependency-failure"
DEPENDENCY_DEGRADED = "dependency-degraded"
DEPENDENCY_HANG = "dependency-hang"
ALL_REPLICAS_DOWN = "all-replicas-down"
REPLICAS_HANGING = "replicas-hanging"
UNKNOWN = "unknown"
# PostgreSQL answering yet refusing the service's new connections (gameday.diagnose.database; its own rules)
CONNECTIONS_EXHAUSTED = "connections-exhausted"
AUTHENTICATION_FAILED = "authentication-failed"
KINDS: tuple[str, ...] = (
    NO_OUTAGE, FAILED_DEPLOYMENT, CONFIGURATION_PROBLEM, DEPENDENCY_FAILURE, DEPENDENCY_DEGRADED, DEPENDENCY_HANG,
    ALL_REPLICAS_DOWN, REPLICAS_HANGING, CONNECTIONS_EXHAUSTED, AUTHENTICATION_FAILED, UNKNOWN,
)


def dependency_verdict(profile: Profile, name: str, hung: bool = False) -> str:
    """The verdict key a lost dependency should get: ``dependency-failure:<dep>`` when the profile says the
    service cannot work without it (``on_outage: outage``), ``dependency-hang:<dep>`` instead when it is lost by
    hanging (``hung``: accepting connections, never answering), else ``dependency-degraded:<dep>``.
    An unknown name is a :class:`~gameday.errors.UsageError` naming the profile's dependencies."""
    dep = profile.dependency(name)
    if dep.on_outage != "outage":
        return f"{DEPENDENCY_DEGRADED}:{dep.name}"
    return f"{DEPENDENCY_HANG if hung else DEPENDENCY_FAILURE}:{dep.name}"
