"""Targets: where the service runs. Everything above talks to :class:`gameday.targets.base.Target`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gameday.config import Settings
from gameday.errors import UsageError
from gameday.ledger import FileStore, Ledger, MergedStore
from gameday.state import StateDir
from gameday.targets.base import Target
from gameday.targets.local.target import LocalTarget


def get_target(settings: Settings) -> Target:
    """The configured target (local by default), built from the settings the caller holds."""
    if settings.target == "local":
        return LocalTarget(settings)
    if settings.target == "kubernetes":
        # imported here, not above: the kubernetes client library takes ~0.2 s to import, which no command on the
        # local target should pay (this is no cycle: gameday.targets.kubernetes imports nothing of this module)
        from gameday.targets.kubernetes.target import KubernetesTarget

        return KubernetesTarget(settings)
    raise UsageError(f"unknown target {settings.target!r}: expected local or kubernetes")


def from_identity(identity: dict[str, Any], settings: Settings) -> Target:
    """Rebuild the target a ledger entry was recorded against (its identity), with the caller's settings otherwise."""
    kind = identity.get("kind")
    if kind == "local":
        local = settings.model_copy(update={"target": "local", "state_dir": Path(identity["state_dir"])})
        return LocalTarget(local, any_profile=True)  # a fault is the stack's, whatever profile the command names
    if kind == "kubernetes":
        kube = settings.kubernetes.model_copy(
            update={k: identity[k] for k in ("context", "namespace", "kubeconfig") if identity.get(k)}
        )
        return get_target(settings.model_copy(update={"target": "kubernetes", "kubernetes": kube}))
    raise UsageError(f"ledger entry names an unknown target kind {kind!r}")


def ledger_for(settings: Settings) -> Ledger:
    """The ledger of the configured target: the state directory's file; for kubernetes the cluster's (where new
    entries go) merged with that file (what this machine still keeps there, see :class:`gameday.ledger.MergedStore`).
    Where the entries live is the target's choice, so the choice is made here, beside :func:`get_target`."""
    local = StateDir(settings.state_dir).ensure().ledger
    if settings.target == "kubernetes":
        # imported here, not above, for the same reason as KubernetesTarget in get_target (no cycle either)
        from gameday.targets.kubernetes.ledger_store import KubeLedgerStore

        return Ledger(MergedStore([KubeLedgerStore.for_settings(settings), FileStore(local)]))
    return Ledger(local)
