"""Steps of the Database Connection Issues runbook: PostgreSQL answering, yet refusing the service's connections."""

from __future__ import annotations

from pytest_bdd import then, when

from gameday.targets.base import Target
from steps.support import FaultScope


@when("every PostgreSQL connection slot is taken")
def connection_slots_taken(fault: FaultScope) -> None:
    """exhaust-connections: max_connections reached, the service's sessions ended; undone after the scenario."""
    fault.inject("exhaust-connections", {"dependency": "postgres"})


@when("the service's PostgreSQL password is changed on the server")
def password_rotated(fault: FaultScope) -> None:
    """rotate-credentials: new connections fail authentication; undone after the scenario."""
    fault.inject("rotate-credentials", {"dependency": "postgres"})


@then("PostgreSQL still answers its check")
def postgres_answers(service: Target) -> None:
    """The runbook's pg_isready: the server is up, so the cause is the connections, not PostgreSQL being down."""
    check = service.check_dependency("postgres")
    assert check.ok, f"postgres check failed: {check.detail}"
