"""Delegation to chaostoolkit-kubernetes where its actions fit, instead of writing them again.

Only used when the configured target is Kubernetes; the experiment files stay target-neutral.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from chaosk8s.deployment.actions import rollout_deployment
from kubernetes.config import kube_config

from gameday.config import Settings
from gameday.targets.kubernetes.cluster import cluster


def is_kubernetes(identity: dict[str, Any]) -> bool:
    """Whether a target identity is a Kubernetes one."""
    return identity.get("kind") == "kubernetes"


def secrets_for(settings: Settings) -> dict[str, str]:
    """The chaosk8s secrets: our kube context, and TLS verification kept on (chaosk8s turns it off otherwise)."""
    secrets = {"KUBERNETES_VERIFY_SSL": "true"}
    if settings.kubernetes.context:
        secrets["KUBERNETES_CONTEXT"] = settings.kubernetes.context
    return secrets


@contextlib.contextmanager
def _kubeconfig(settings: Settings) -> Iterator[None]:
    """Point chaosk8s at our kubeconfig for the call only.

    chaosk8s checks ``$KUBECONFIG`` at call time, but the kubernetes client's ``load_kube_config`` falls
    back to a default path read from ``$KUBECONFIG`` when the module was imported: both are set here,
    and put back afterwards, so the call never reaches a cluster of another kubeconfig.
    """
    path = settings.kubernetes.kubeconfig
    if not path:
        yield
        return
    previous_env = os.environ.get("KUBECONFIG")
    previous_default = kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    os.environ["KUBECONFIG"] = path
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = path
    try:
        yield
    finally:
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = previous_default
        if previous_env is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous_env


def rollout_restart(settings: Settings) -> None:
    """``kubectl rollout restart deployment/...`` through ``chaosk8s.deployment.actions.rollout_deployment``."""
    kube = cluster(settings)
    with _kubeconfig(settings):
        rollout_deployment(name=kube.deployment, ns=kube.namespace, secrets=secrets_for(settings))
