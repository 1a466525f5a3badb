"""The kubernetes target: the runbook's operations on any cluster a kubeconfig reaches (kind, staging ...).

It talks to the API with the official ``kubernetes`` client, through an ``ApiClient`` of its own built
from ``settings.kubernetes.kubeconfig``/``context`` (never the process-wide default configuration).
Pods are terminated with a delete of grace period 0, as ``chaosk8s.pod.actions.terminate_pods(...,
grace_period=0)`` does; chaosk8s itself is not called here because it loads the kubeconfig into the
global default configuration from ``$KUBECONFIG`` and turns TLS verification off unless told otherwise
(the experiments' rollout restart still uses chaosk8s: gameday/chaos/kube.py).

Faults that need a hang use NetworkPolicies (see :mod:`.policies`); a stopped dependency is its
workload scaled to zero, the previous replica count kept in an annotation on the workload itself so
that ``gameday abort`` in another process scales it back. Every fault-introducing operation passes the
safety guard first (the restoring ones do not, so that ``abort`` can always put things back).

It is cut by resource, one part per module, as chaostoolkit-kubernetes cuts its activities: :mod:`.core` (the client,
the Deployment and what the target says about itself), :mod:`.pods`, :mod:`.rollouts`, :mod:`.configuration`,
:mod:`.dependencies`, :mod:`.reachability` (what the namespace's policies let through), :mod:`.network` (Toxiproxy or
Chaos Mesh) and :mod:`.canary`.
"""

from __future__ import annotations

from gameday.targets.kubernetes.canary import KubernetesCanaries
from gameday.targets.kubernetes.configuration import KubernetesConfiguration
from gameday.targets.kubernetes.dependencies import CHECK_ADDRESS, REPLICAS_BEFORE_STOP, KubernetesDependencies
from gameday.targets.kubernetes.network import KubernetesNetwork
from gameday.targets.kubernetes.pods import KubernetesPods
from gameday.targets.kubernetes.rollouts import KubernetesRollouts

__all__ = ["CHECK_ADDRESS", "REPLICAS_BEFORE_STOP", "KubernetesTarget"]  # the annotations: tests and docs name them


class KubernetesTarget(KubernetesPods, KubernetesCanaries, KubernetesRollouts, KubernetesConfiguration,
                       KubernetesDependencies, KubernetesNetwork):
    """The runbook's operations on a Kubernetes Deployment, its Service, ConfigMap and dependencies."""

    name = "kubernetes"
