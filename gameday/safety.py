"""Refuse to inject into a context or namespace that is not allowed."""

from __future__ import annotations

from typing import Any

from gameday.config import SafetySettings, Settings, get_settings
from gameday.errors import SafetyError
from gameday.targets.base import Target


def guard(target: Target, allow_production: bool | None = None) -> None:
    """Raise SafetyError, before anything changes, when faults may not go to this target."""
    _check(target.identity(), get_settings().safety, allow_production)


def _check(identity: dict[str, Any], safety: SafetySettings, allow_production: bool | None) -> None:
    """The allowlist: context, namespace, and the production flag."""
    if identity.get("kind") != "kubernetes":
        return
    context = identity.get("context") or ""
    namespace = identity.get("namespace") or ""
    if context not in safety.allowed_contexts:
        raise SafetyError(
            f"refusing to inject into context {context!r}: not in the allowlist "
            f"({', '.join(safety.allowed_contexts)}); add it to safety.allowed_contexts"
        )
    if namespace not in safety.allowed_namespaces:
        raise SafetyError(
            f"refusing to inject into namespace {namespace!r}: not in the allowlist "
            f"({', '.join(safety.allowed_namespaces)})"
        )
    production_ok = safety.allow_production if allow_production is None else allow_production
    if namespace == "production" and not production_ok:
        raise SafetyError(
            "refusing to inject into namespace 'production' without an explicit flag "
            "(--allow-production or GAMEDAY_SAFETY__ALLOW_PRODUCTION=true)"
        )


def guard_settings(settings: Settings, allow_production: bool | None = None) -> None:
    """The allowlist check of :func:`guard` from configuration alone: every mutating command calls it BEFORE
    building a target, so a refused context or namespace never sees a single network call (the context comes
    from the configuration or the kubeconfig file's current-context)."""
    if settings.target != "kubernetes":
        return
    from gameday.targets.kubernetes.client import KubeClient
    from gameday.targets.kubernetes.cluster import cluster

    kube = cluster(settings)
    # a context named in the configuration is judged as it is: a refused one needs no kubeconfig at all
    context = kube.context or KubeClient(kube.kubeconfig, kube.context).context  # the file only; bad: one line
    _check({"kind": "kubernetes", "namespace": kube.namespace, "context": context}, settings.safety, allow_production)
