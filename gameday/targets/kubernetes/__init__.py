"""The kubernetes target: the runbook's operations on a cluster, through the official ``kubernetes`` client."""

from gameday.targets.kubernetes.target import KubernetesTarget

__all__ = ["KubernetesTarget"]
