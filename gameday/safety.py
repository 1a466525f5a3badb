"""Refuse to inject into a context or namespace that is not allowed."""

from __future__ import annotations

from gameday.config import SafetySettings, Settings
from gameday.targets.base import Target
from gameday.targets.kubernetes.allowlist import check as _check  # the allowlist, applied by the target too
from gameday.targets.kubernetes.cluster import cluster


def guard(target: Target, allow_production: bool | None = None, safety: SafetySettings | None = None) -> None:
    """Raise SafetyError, before anything changes, when faults may not go to this target.

    ``safety``: the allowlist to judge by; by default the one of the settings the target was built with (a target
    carries its settings), so a caller holding the target needs nothing else."""
    identity = target.identity()
    if identity.get("kind") != "kubernetes":
        return
    _check(identity, safety if safety is not None else settings_of(target).safety, allow_production)


def settings_of(target: Target) -> Settings:
    """The settings a target was built with (local and Kubernetes targets keep them as ``settings``)."""
    settings = getattr(target, "settings", None)
    if not isinstance(settings, Settings):
        raise TypeError(f"{type(target).__name__} carries no settings: pass them (safety=..., profile=...)")
    return settings


def guard_settings(settings: Settings, allow_production: bool | None = None) -> None:
    """The allowlist check of :func:`guard` from configuration alone: every mutating command calls it BEFORE
    building a target, so a refused context or namespace never sees a single network call (the context comes
    from the configuration or the kubeconfig file's current-context)."""
    if settings.target != "kubernetes":
        return
    from gameday.targets.kubernetes.client import KubeClient  # the kubernetes library (~0.1 s): for a cluster only

    kube = cluster(settings)
    # a context named in the configuration is judged as it is: a refused one needs no kubeconfig at all
    context = kube.context or KubeClient(kube.kubeconfig, kube.context).context  # the file only; bad: one line
    _check({"kind": "kubernetes", "namespace": kube.namespace, "context": context}, settings.safety, allow_production)
