"""The safety allowlist a Kubernetes target checks before every change that breaks something: the context, the
namespace, and the production flag (``safety.*`` of the settings). It lives with the target so that the target needs
nothing above it (:mod:`gameday.safety` applies the same check from configuration alone, before a target is built).
"""

from __future__ import annotations

from typing import Any

from gameday.config import SafetySettings
from gameday.errors import SafetyError


def check(identity: dict[str, Any], safety: SafetySettings, allow_production: bool | None = None) -> None:
    """Raise SafetyError, before anything changes, when faults may not go to the target of that identity."""
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
