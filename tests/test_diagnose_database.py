"""The database-connection verdicts as a pure function of evidence: no stack, no clock."""

from __future__ import annotations

from pathlib import Path

from gameday.diagnose.evidence import Evidence, LogMatch
from gameday.profile import load as load_profile
from gameday.runbooks.database_connection_issues import diagnosis
from gameday.targets.model import DependencyCheck, Endpoint, LoadBalancer, Replica

ROOT = Path(__file__).resolve().parents[1]
ECOMMERCE = load_profile(ROOT / "profiles/ecommerce-backend.yaml")
TICKETS = load_profile(ROOT / "profiles/ticket-office.yaml")
TOO_MANY = ("2026-12-07T02:38:43.766Z ERROR pod=replica-0 GET /readyz -> 503 service unavailable (postgres down for "
            "10.5s (grace 4s): TooManyConnectionsError: sorry, too many clients already (127.0.0.1:41777)) in 1 ms")
AUTH_JSON = ('{"ts": "2026-12-07T02:55:10.215Z", "level": "error", "msg": "GET /_status/ready -> 503 service '
             'unavailable (postgres: InvalidPasswordError: password authentication failed for user \\"tickets\\")"}')
REFUSED = "2026-12-07T02:58:00.000Z ERROR pod=replica-0 postgres: down (Connection refused (127.0.0.1:41777))"


def evidence(lines: list[str], ready: bool = False, postgres_ok: bool = True, phase: str = "Running") -> Evidence:
    return Evidence(
        target="local", collected_at=1_800_000_000.0,
        replicas=[Replica(f"replica-{i}", phase, ready, 0, 1, "1.4.2") for i in range(3)],
        endpoints=[Endpoint(f"replica-{i}", f"127.0.0.1:{8000 + i}", ready) for i in range(3)],
        load_balancer=LoadBalancer("lb", "http://127.0.0.1:8080", "up", 3 if ready else 0, 3),
        dependencies=[DependencyCheck("postgres", postgres_ok, 0.01, "127.0.0.1:41777 - accepting connections")],
        log_matches=[LogMatch("replica-0", "service unavailable", line) for line in lines])


def test_too_many_clients_while_postgres_answers_is_connections_exhausted():
    verdict = diagnosis.decide(evidence([TOO_MANY]), ECOMMERCE)
    assert verdict is not None and verdict.key == "connections-exhausted:postgres"
    assert any("too many clients" in line for line in verdict.evidence)


def test_password_authentication_failed_in_json_logs_is_authentication_failed():
    verdict = diagnosis.decide(evidence([TOO_MANY.replace("02:38", "02:50"), AUTH_JSON]), TICKETS)
    assert verdict is not None and verdict.key == "authentication-failed:postgres"


def test_no_verdict_when_the_newest_database_line_is_another_error():
    assert diagnosis.decide(evidence([TOO_MANY, REFUSED]), ECOMMERCE) is None


def test_no_verdict_when_healthy_stopped_or_postgres_check_fails():
    assert diagnosis.decide(evidence([TOO_MANY], ready=True), ECOMMERCE) is None  # no outage: the general rules
    assert diagnosis.decide(evidence([TOO_MANY], phase="Stopped"), ECOMMERCE) is None  # replicas down: not this
    assert diagnosis.decide(evidence([TOO_MANY], postgres_ok=False), ECOMMERCE) is None  # a dependency failure
