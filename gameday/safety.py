"""Refuse to inject into a context or namespace that is not allowed."""

from __future__ import annotations

from gameday.config import get_settings
from gameday.errors import SafetyError
from gameday.targets.base import Target


def guard(target: Target, allow_production: bool | None = None) -> None:
    """Raise SafetyError, before anything changes, when faults may not go to this target."""
    identity = target.identity()
    if identity.get("kind") != "kubernetes":
        return
    safety = get_settings().safety
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
