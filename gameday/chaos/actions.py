"""Actions of the gameday chaostoolkit extension: inject a fault, the runbook's resolutions, and the undo.

Faults go through :func:`gameday.faults.inject` (safety guard first, ledger entry before anything is
applied); every other action that changes the target passes the safety guard first too. On Kubernetes
the rollout restart is chaostoolkit-kubernetes's own action; everything else goes through the Target
interface, so experiments never name a target. Each action takes the run's context from chaostoolkit's
``configuration`` (:func:`gameday.chaos.context.run_context`).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from gameday import faults, interrupts
from gameday.chaos import kube
from gameday.chaos.context import Configuration, changing_target, ledger, own_entries, run_context
from gameday.chaos.probes import health_checks, readiness_answers, smoke
from gameday.context import RunContext
from gameday.errors import GamedayError, UsageError
from gameday.faults.network import NetworkFault
from gameday.targets import from_identity
from gameday.targets.model import Revision

__all__ = [
    "inject_fault",
    "restore_dependency_link",
    "restore_previous_config",
    "rollout_restart",
    "rollout_undo",
    "start_dependency",
    "thaw_replicas",
    "undo_faults",
    "wait_until_healthy",
]


HEALTH_PROOF_S = 10.0  # after the replicas got healthy, the least time the health checks get to pass in a row
HEALTH_PROOFS = 3  # the health checks' answers that prove the service healthy: one per replica


class RecoveryFailed(GamedayError):
    """A resolution step did not bring the service back."""


def inject_fault(fault: str, params: dict[str, Any] | None = None,
                 *, configuration: Configuration = None) -> dict[str, Any]:
    """Inject a fault of gameday's registry (kill-replicas, bad-release, ...): typed, guarded, ledgered, applied."""
    ctx = run_context(configuration)
    entry = faults.inject(ctx.target, ledger(ctx.settings), fault, params or {}, ctx.profile)
    return {"id": entry.id, "fault": entry.fault, "params": entry.params, "target": entry.target}


def undo_faults(fault: str | None = None, *, configuration: Configuration = None) -> list[str]:
    """Undo this run's faults (all, or those named ``fault``), newest first; idempotent (rollbacks call it)."""
    if fault is not None:
        faults.get_fault(fault)
    settings = run_context(configuration).settings
    book = ledger(settings)
    undone = []
    for entry in reversed(own_entries(book, fault)):
        faults.undo(from_identity(entry.target, settings), book, entry)
        undone.append(entry.describe())
    return undone


def rollout_restart(timeout: float | None = None, *, configuration: Configuration = None) -> dict[str, Any]:
    """The runbook's ``kubectl rollout restart deployment/<service>`` (chaosk8s on Kubernetes). ``timeout``: the
    whole rollout's deadline; by default the target's own, from the service (the local start times measured at
    ``up``, a Deployment's progress deadline)."""
    ctx = run_context(configuration)
    target = changing_target(ctx)
    if kube.is_kubernetes(target.identity()):
        kube.rollout_restart(ctx.settings)
        return {"healthy": target.wait_healthy(timeout), "via": "chaosk8s.deployment.actions.rollout_deployment"}
    return _revision(target.rollout_restart(wait=True, timeout=timeout))


def rollout_undo(to_revision: int | None = None, timeout: float | None = None,
                 *, configuration: Configuration = None) -> dict[str, Any]:
    """The runbook's ``kubectl rollout undo deployment/<service>`` (to the previous revision by default)."""
    return _revision(changing_target(run_context(configuration)).rollout_undo(to_revision, wait=True, timeout=timeout))


def restore_previous_config(*, configuration: Configuration = None) -> dict[str, Any]:
    """The runbook's ``kubectl apply -f previous-config.yaml``: the configuration saved before this run changed it.

    The previous configuration is the one the bad-config fault recorded in the ledger before applying;
    a restart (``rollout_restart``) then puts the replicas on it.
    """
    ctx = run_context(configuration)
    saved = [e for e in own_entries(ledger(ctx.settings), "bad-config") if e.undo.get("config") is not None]
    if not saved:
        raise UsageError("no previous configuration recorded by this run (no bad-config fault in the ledger)")
    target = changing_target(ctx)
    previous = saved[-1].undo["config"]
    if target.config() == previous:
        return {"restored": False, "reason": "configuration already the previous one"}
    target.replace_config(previous, cause="runbook: restore previous configuration")
    return {"restored": True, "keys": sorted(previous)}


def restore_dependency_link(dependency: str, *, configuration: Configuration = None) -> dict[str, Any]:
    """The runbook's "check and fix" for a dependency reached through a broken network path: the path restored,
    i.e. this run's network faults on it lifted through the ledger (what the network fix does), then checked."""
    ctx = run_context(configuration)
    ctx.profile.dependency(dependency)  # one of the profile's, or one line naming them
    book = ledger(ctx.settings)
    lifted = []
    for entry in reversed(own_entries(book)):
        if isinstance(faults.FAULTS.get(entry.fault), NetworkFault) and entry.params.get("dependency") == dependency:
            faults.undo(from_identity(entry.target, ctx.settings), book, entry)
            lifted.append(entry.describe())
    check = changing_target(ctx).check_dependency(dependency)
    return {"dependency": dependency, "lifted": lifted, "answers": check.ok, "detail": check.detail}


def start_dependency(name: str, timeout: float = 30.0, *, configuration: Configuration = None) -> dict[str, Any]:
    """Bring a dependency back (the runbook's "check and fix database/Redis/Kafka")."""
    ctx = run_context(configuration)
    ctx.profile.dependency(name)  # one of the profile's, or one line naming them
    target = changing_target(ctx)
    target.start_dependency(name, wait=True, timeout=timeout)
    check = target.check_dependency(name)
    return {"dependency": name, "answers": check.ok, "detail": check.detail}


def thaw_replicas(*, configuration: Configuration = None) -> dict[str, Any]:
    """Release hung replicas (SIGCONT / unpause)."""
    return {"thawed": changing_target(run_context(configuration)).thaw_replicas()}


def wait_until_healthy(timeout: float | None = None, *, configuration: Configuration = None) -> dict[str, Any]:
    """Wait until every replica is ready, the health checks pass (every dependency answering too) and the smoke
    endpoints answer as expected (what the steady state after asks: the calls that need a dependency the service
    survives without are the only ones that show the replicas use it again).

    The load balancer's readiness path answers from one replica at a time: the health checks must pass
    ``HEALTH_PROOFS`` times, one per replica (the replicas' states and the dependencies once: they are the same
    whichever replica answers). They are asked together, with the smoke endpoints beside them (round robin sends
    concurrent requests to successive replicas, as it does successive ones), so a round takes its slowest call's
    time, not their sum: a round with any failure is asked again. The target's own wait for its replicas comes
    first (at once when they are healthy already). Fails the step with the replicas' states when that does not
    happen within ``timeout`` (by default the target's own deadline for its replicas to get healthy, from the
    service, then as long again for the proofs).
    """
    ctx = run_context(configuration)
    target = ctx.target
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=2 * HEALTH_PROOFS, thread_name_prefix="health-proof")
    own = threading.local()

    def mine() -> RunContext:
        # each proof thread with a target of its own (a target's clients are not shared across threads), built
        # once for every round it asks
        if not hasattr(own, "ctx"):
            own.ctx = ctx.for_thread()
        return own.ctx

    def proven() -> dict[str, Any]:
        """One round: the health checks once per replica and the smoke endpoints, together; ``ok`` when all pass."""
        # the smoke once per replica too: a replica whose breaker on the restored dependency is still open (until
        # its own next check: ~0.5 s on the reference service) fails the calls that need it, and one pass through
        # round robin reached it by chance only (measured: a proof passed, the steady state after hit it, 503)
        smokes = [pool.submit(lambda: _smoke(mine())) for _ in range(HEALTH_PROOFS)]
        # the replicas' states and the dependencies once; the readiness path (one replica's answer) once per replica
        answers = _answers([pool.submit(lambda: health_checks(mine())),
                            *(pool.submit(lambda: readiness_answers(mine())) for _ in range(HEALTH_PROOFS - 1))])
        failed = [text for found in _answers(smokes) for text in found]
        checks = next((a for a in answers if not a["ok"]), answers[-1])
        return {**checks, "ok": checks["ok"] and not failed, **({"smoke": failed} if failed else {})}

    last: dict[str, Any] = {"ok": False}
    try:
        # the target's own idea of healthy first (every replica ready and in the load balancer's rotation, a
        # cluster's rollout done): at once when it already is
        if target.wait_healthy(timeout):
            # the proofs get what is left of ``timeout``, or (the target's own deadline) a few answers' time
            proofs_s = max(HEALTH_PROOF_S, HEALTH_PROOFS * target.answer_timeout_s())
            deadline = started + timeout if timeout is not None else time.monotonic() + proofs_s
            while time.monotonic() < deadline:
                last = proven()
                if last["ok"]:
                    break
                interrupts.pause(0.05)  # poll (a safe point); the answers, not the pauses, are the proof
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # an interrupt does not wait for checks in flight
    if last["ok"]:
        return {"healthy": True, "readiness": _readiness(last), "smoke": "every endpoint answered"}
    states = ", ".join(f"{r.name} {r.phase}{' ready' if r.ready else ''}" for r in target.replicas())
    waited = time.monotonic() - started
    smoke = f"; {last['smoke'][0]}" if last.get("smoke") else ""
    raise RecoveryFailed(f"service not healthy within {waited:.0f}s after the resolution ({states}; readiness "
                         f"{_readiness(last)!r}{smoke})")


def _smoke(ctx: RunContext) -> list[str]:
    """The smoke endpoints and journeys that did not answer as expected (none: recovered). The probes of a
    dependency the service survives without say nothing of it (its readiness stays 200 while it is down): only the
    calls that need it show that the replicas use it again, as the steady state after will ask."""
    return smoke(ctx)[0]


def _answers(futures: list[Future[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The health checks' answers, waited for at safe points (an interrupt lands while they run)."""
    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=0.05)
        interrupts.checkpoint()
    return [f.result() for f in futures]


def _readiness(checks: dict[str, Any]) -> Any:
    """What the readiness path said: its JSON ``status`` when it has one, else its status code."""
    readiness = checks.get("readiness") or {}
    body = readiness.get("body")
    return body.get("status", readiness.get("status")) if isinstance(body, dict) else readiness.get("status")


def _revision(rev: Revision) -> dict[str, Any]:
    return {"revision": rev.number, "version": rev.version, "change_cause": rev.change_cause}
