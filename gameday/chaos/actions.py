"""Actions of the gameday chaostoolkit extension: inject a fault, the runbook's resolutions, and the undo.

Faults go through :func:`gameday.faults.inject` (safety guard first, ledger entry before anything is
applied); every other action that changes the target passes the safety guard first too. On Kubernetes
the rollout restart is chaostoolkit-kubernetes's own action; everything else goes through the Target
interface, so experiments never name a target.
"""

from __future__ import annotations

import time
from typing import Any

from gameday import faults, interrupts
from gameday.chaos import kube
from gameday.chaos.context import changing_target, current_target, ledger, own_entries
from gameday.config import get_settings
from gameday.errors import GamedayError, UsageError
from gameday.targets import from_identity
from gameday.targets.base import Revision

__all__ = [
    "inject_fault",
    "restore_previous_config",
    "rollout_restart",
    "rollout_undo",
    "start_dependency",
    "thaw_replicas",
    "undo_faults",
    "wait_until_healthy",
]


class RecoveryFailed(GamedayError):
    """A resolution step did not bring the service back."""


def inject_fault(fault: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Inject a fault of gameday's registry (kill-replicas, bad-release, ...): typed, guarded, ledgered, applied."""
    entry = faults.inject(current_target(), ledger(), fault, params or {}, get_settings().service)
    return {"id": entry.id, "fault": entry.fault, "params": entry.params, "target": entry.target}


def undo_faults(fault: str | None = None) -> list[str]:
    """Undo this run's faults (all, or those named ``fault``), newest first; idempotent (rollbacks call it)."""
    if fault is not None:
        faults.get_fault(fault)
    book = ledger()
    undone = []
    for entry in reversed(own_entries(book, fault)):
        faults.undo(from_identity(entry.target), book, entry)
        undone.append(entry.describe())
    return undone


def rollout_restart(timeout: float = 60.0) -> dict[str, Any]:
    """The runbook's ``kubectl rollout restart deployment/<service>`` (chaosk8s on Kubernetes)."""
    target = changing_target()
    if kube.is_kubernetes(target.identity()):
        kube.rollout_restart(get_settings())
        return {"healthy": target.wait_healthy(timeout), "via": "chaosk8s.deployment.actions.rollout_deployment"}
    return _revision(target.rollout_restart(wait=True, timeout=timeout))


def rollout_undo(to_revision: int | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """The runbook's ``kubectl rollout undo deployment/<service>`` (to the previous revision by default)."""
    return _revision(changing_target().rollout_undo(to_revision, wait=True, timeout=timeout))


def restore_previous_config() -> dict[str, Any]:
    """The runbook's ``kubectl apply -f previous-config.yaml``: the configuration saved before this run changed it.

    The previous configuration is the one the bad-config fault recorded in the ledger before applying;
    a restart (``rollout_restart``) then puts the replicas on it.
    """
    saved = [e for e in own_entries(ledger(), "bad-config") if e.undo.get("config") is not None]
    if not saved:
        raise UsageError("no previous configuration recorded by this run (no bad-config fault in the ledger)")
    target = changing_target()
    previous = saved[-1].undo["config"]
    if target.config() == previous:
        return {"restored": False, "reason": "configuration already the previous one"}
    target.replace_config(previous, cause="runbook: restore previous configuration")
    return {"restored": True, "keys": sorted(previous)}


def start_dependency(name: str, timeout: float = 30.0) -> dict[str, Any]:
    """Bring a dependency back (the runbook's "check and fix database/Redis/Kafka")."""
    get_settings().service.dependency(name)  # one of the profile's, or one line naming them
    target = changing_target()
    target.start_dependency(name, wait=True, timeout=timeout)
    check = target.check_dependency(name)
    return {"dependency": name, "answers": check.ok, "detail": check.detail}


def thaw_replicas() -> dict[str, Any]:
    """Release hung replicas (SIGCONT / unpause)."""
    return {"thawed": changing_target().thaw_replicas()}


def wait_until_healthy(timeout: float = 60.0) -> dict[str, Any]:
    """Wait until every replica is ready and the health checks pass (every dependency answering too).

    The load balancer's readiness path answers from one replica at a time: the health checks must pass three
    times in a row. Fails the step with the replicas' states when that does not happen within ``timeout``.
    """
    from gameday.chaos.probes import health_checks_pass

    target = current_target()
    deadline = time.monotonic() + timeout
    in_a_row = 0
    last: dict[str, Any] = {}
    if target.wait_healthy(timeout):
        while time.monotonic() < deadline:
            last = health_checks_pass()
            in_a_row = in_a_row + 1 if last["ok"] else 0
            if in_a_row >= 3:
                return {"healthy": True, "readiness": _readiness(last)}
            interrupts.pause(0.05)  # poll (a safe point); the three answers, not the pauses, are the proof
    states = ", ".join(f"{r.name} {r.phase}{' ready' if r.ready else ''}" for r in target.replicas())
    raise RecoveryFailed(f"service not healthy within {timeout:g}s after the resolution ({states}; readiness "
                         f"{_readiness(last)!r})")


def _readiness(checks: dict[str, Any]) -> Any:
    """What the readiness path said: its JSON ``status`` when it has one, else its status code."""
    readiness = checks.get("readiness") or {}
    body = readiness.get("body")
    return body.get("status", readiness.get("status")) if isinstance(body, dict) else readiness.get("status")


def _revision(rev: Revision) -> dict[str, Any]:
    return {"revision": rev.number, "version": rev.version, "change_cause": rev.change_cause}
