"""Delegation to chaostoolkit-kubernetes where its actions fit, instead of writing them again.

Only used when the configured target is Kubernetes; the experiment files stay target-neutral.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from gameday.config import Settings


def is_kubernetes(identity: dict[str, Any]) -> bool:
    """Whether a target identity is a Kubernetes one."""
    return identity.get("kind") == "kubernetes"


def secrets_for(settings: Settings) -> dict[str, str]:
    """The chaosk8s secrets selecting our kube context (chaosk8s reads ``KUBERNETES_CONTEXT``)."""
    return {"KUBERNETES_CONTEXT": settings.kubernetes.context} if settings.kubernetes.context else {}


@contextlib.contextmanager
def _kubeconfig(settings: Settings) -> Iterator[None]:
    """chaosk8s finds the kubeconfig through ``KUBECONFIG``: point it at ours for the call only."""
    path = settings.kubernetes.kubeconfig
    if not path:
        yield
        return
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = path
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous


def rollout_restart(settings: Settings) -> None:
    """``kubectl rollout restart deployment/...`` through ``chaosk8s.deployment.actions.rollout_deployment``."""
    from chaosk8s.deployment.actions import rollout_deployment

    kube = settings.kubernetes
    with _kubeconfig(settings):
        rollout_deployment(name=kube.deployment, ns=kube.namespace, secrets=secrets_for(settings))
