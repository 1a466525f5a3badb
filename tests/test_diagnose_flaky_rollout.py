"""A replica gone unready long after a rollout is not that rollout's failure: a clean-clone run diagnosed
``failed-deployment`` after a PostgreSQL restart made one replica of ecommerce-backend briefly not ready (its pooled
connections gone), blaming revision 1, rolled out 1m51s before, whose three replicas had started on it and served.

From recorded evidence (pure): the rollout is cleared when it finished (every replica runs it) and replicas that
started on it run ready and unrestarted since, at least ``bounce_s``, beside failing ones that merely are not ready
(Running, never restarted: nothing crashed). The honest edges stay ``failed-deployment``: its replicas crashing, none
of them ever ready, or a rollout too young for its replicas to have served on it.
"""

from __future__ import annotations

from dataclasses import replace

from gameday.diagnose.changes import BOUNCE_S
from gameday.diagnose.evidence import ApiAnswer, Evidence
from gameday.diagnose.rules import FAILED_DEPLOYMENT, UNKNOWN, decide
from gameday.targets.model import DependencyCheck, Endpoint, LoadBalancer, Replica, Revision
from tests.diagnose_fakes import PROFILE  # ecommerce-backend, as the stack of the postgres-restart test

NOW = 1_800_000_000.0
NAMES = ("replica-0", "replica-1", "replica-2")


def after_a_postgres_restart(rolled_out_ago: float = 111.0, unready: tuple[str, ...] = ("replica-1",)) -> Evidence:
    """The stack as the clean-clone run saw it: revision 1 (the initial deploy) rolled out ``rolled_out_ago``
    seconds ago, its replicas started one after another on it, never restarted; ``unready`` not ready now (its
    readiness answers 503 while it reconnects), out of the load balancer's rotation; every dependency answering."""
    started = NOW - rolled_out_ago
    replicas = [Replica(n, "Running", n not in unready, 0, 1, "1.4.2", started_at=started + 1 + 2 * i,
                        probe="HTTP 503" if n in unready else "")
                for i, n in enumerate(NAMES)]
    return Evidence(
        target="local",
        collected_at=NOW,
        replicas=replicas,
        endpoints=[Endpoint(n, f"127.0.0.1:{9000 + i}", n not in unready, "DOWN" if n in unready else "UP")
                   for i, n in enumerate(NAMES)],
        load_balancer=LoadBalancer("lb", "http://127.0.0.1:8080", "up", 3 - len(unready), 3),
        history=[Revision(1, "1.4.2", "initial deploy", started)],
        dependencies=[DependencyCheck(d, True, 0.01, "ok") for d in ("postgres", "redis", "kafka")],
        api=[ApiAnswer("catalogue", 200, False), ApiAnswer("product", 200, False)],
    )


def test_a_replica_unready_long_after_a_rollout_it_served_on_does_not_blame_the_rollout():
    verdict = decide(after_a_postgres_restart(), PROFILE)
    assert verdict.kind != FAILED_DEPLOYMENT, verdict.summary
    assert verdict.kind == UNKNOWN  # one replica not ready, and nothing the evidence shows explains it
    assert "1/3 replicas not ready" in verdict.summary


def test_its_replicas_crashing_still_blame_the_rollout():
    ev = after_a_postgres_restart()
    ev.replicas = [replace(r, restarts=2, started_at=NOW - 5) if not r.ready else r for r in ev.replicas]
    assert decide(ev, PROFILE).kind == FAILED_DEPLOYMENT


def test_none_of_its_replicas_ever_ready_still_blames_the_rollout():
    assert decide(after_a_postgres_restart(unready=NAMES), PROFILE).kind == FAILED_DEPLOYMENT


def test_a_rollout_too_young_for_its_replicas_to_have_served_still_blames_it():
    """The replicas beside the failing one started on it less than ``bounce_s`` ago: they prove nothing yet."""
    assert decide(after_a_postgres_restart(rolled_out_ago=BOUNCE_S - 10), PROFILE).kind == FAILED_DEPLOYMENT


def test_a_rollout_stuck_half_way_still_blames_it():
    """Replicas left on the previous revision are not the rollout's: the new one never got a replica serving."""
    ev = after_a_postgres_restart()
    ev.history = [Revision(1, "1.4.1", "initial deploy", NOW - 7200), replace(ev.history[0], number=2,
                                                                              change_cause="release 1.4.2")]
    ev.replicas = [replace(r, revision=2) if not r.ready else replace(r, revision=1, version="1.4.1",
                                                                      started_at=NOW - 7000)
                   for r in ev.replicas]
    assert decide(ev, PROFILE).kind == FAILED_DEPLOYMENT
