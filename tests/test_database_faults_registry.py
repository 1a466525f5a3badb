"""The Database Connection Issues faults as the registry and the game day see them: no stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday import faults
from gameday.errors import UsageError
from gameday.profile import load as load_profile

ROOT = Path(__file__).resolve().parents[1]
ECOMMERCE = load_profile(ROOT / "profiles/ecommerce-backend.yaml")
TICKETS = load_profile(ROOT / "profiles/ticket-office.yaml")


@pytest.mark.parametrize(("fault", "verdict"), [("exhaust-connections", "connections-exhausted:postgres"),
                                                ("rotate-credentials", "authentication-failed:postgres"),
                                                ("restart-dependency", "no-outage")])
def test_each_fault_states_its_verdict_and_outage_for_both_services(fault, verdict):
    chosen = faults.get_fault(fault)
    for profile in (ECOMMERCE, TICKETS):
        params = chosen.validate({}, profile)
        assert params["dependency"] == "postgres"
        assert chosen.expected_verdict(params, profile, "local") == verdict
        assert chosen.outage(params, profile) is (fault != "restart-dependency")
        assert chosen.not_applicable(params, profile, "local") is None


def test_session_faults_are_not_applicable_on_kubernetes_with_a_reason():
    for fault in ("exhaust-connections", "rotate-credentials"):
        chosen = faults.get_fault(fault)
        reason = chosen.not_applicable(chosen.validate({}, ECOMMERCE), ECOMMERCE, "kubernetes")
        assert reason and "superuser session" in reason
    restart = faults.get_fault("restart-dependency")  # made of stop/start: fine where the team owns PostgreSQL
    assert restart.not_applicable(restart.validate({}, ECOMMERCE), ECOMMERCE, "kubernetes") is None


def test_a_dependency_that_is_not_postgres_is_refused_or_skipped():
    chosen = faults.get_fault("exhaust-connections")
    assert chosen.not_applicable({"dependency": "redis"}, ECOMMERCE, "local") == "redis is not PostgreSQL"
    with pytest.raises(UsageError, match="no dependency 'mysql'"):
        chosen.validate({"dependency": "mysql"}, ECOMMERCE)
