"""Targets: where the service runs. Everything above talks to :class:`gameday.targets.base.Target`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gameday.config import Settings, get_settings
from gameday.errors import UsageError
from gameday.targets.base import Target


def get_target(settings: Settings | None = None) -> Target:
    """The configured target (local by default)."""
    settings = settings or get_settings()
    if settings.target == "local":
        from gameday.targets.local.target import LocalTarget

        return LocalTarget(settings)
    if settings.target == "kubernetes":
        from gameday.targets.kubernetes import KubernetesTarget

        return KubernetesTarget(settings)
    raise UsageError(f"unknown target {settings.target!r}: expected local or kubernetes")


def from_identity(identity: dict[str, Any], settings: Settings | None = None) -> Target:
    """Rebuild the target a ledger entry was recorded against."""
    settings = settings or get_settings()
    kind = identity.get("kind")
    if kind == "local":
        from gameday.targets.local.target import LocalTarget

        local = settings.model_copy(update={"target": "local", "state_dir": Path(identity["state_dir"])})
        return LocalTarget(local, any_profile=True)  # a fault is the stack's, whatever profile the command names
    if kind == "kubernetes":
        kube = settings.kubernetes.model_copy(
            update={k: identity[k] for k in ("context", "namespace", "kubeconfig") if identity.get(k)}
        )
        return get_target(settings.model_copy(update={"target": "kubernetes", "kubernetes": kube}))
    raise UsageError(f"ledger entry names an unknown target kind {kind!r}")
