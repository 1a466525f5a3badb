"""The kubectl command a person would type for a runbook action on the configured cluster."""

from __future__ import annotations

import shlex

from gameday.targets.kubernetes.cluster import Cluster


def scope(kube: Cluster, context: str) -> str:
    """``-n NAMESPACE --context CONTEXT`` (and ``--kubeconfig`` when one is configured)."""
    words = ["-n", kube.namespace]
    if context:
        words += ["--context", context]
    if kube.kubeconfig:
        words += ["--kubeconfig", kube.kubeconfig]
    return shlex.join(words)


def kubectl_for(action: str, kube: Cluster, context: str) -> str:
    """``rollout undo`` -> ``kubectl rollout undo deployment/ecommerce-backend -n production --context X``."""
    where = scope(kube, context)
    deploy = f"deployment/{kube.deployment}"
    words = " ".join(action.split())
    known = {
        "get pods": f"kubectl get pods {where} -l {kube.label_selector}",
        "get endpoints": f"kubectl get endpoints {kube.service} {where}",
        "get svc": f"kubectl get svc {kube.service} {where}",
        "rollout history": f"kubectl rollout history {deploy} {where}",
        "get events": f"kubectl get events {where} --sort-by=.lastTimestamp",
        "logs": f"kubectl logs {deploy} {where} --tail=100",
        "rollout restart": f"kubectl rollout restart {deploy} {where}",
        "rollout undo": f"kubectl rollout undo {deploy} {where}",
        "rollout status": f"kubectl rollout status {deploy} {where}",
        "set image": f"kubectl set image {deploy} {kube.deployment}=IMAGE {where}",
        "apply config": f"kubectl apply -f previous-config.yaml {where}",
        "get configmap": f"kubectl get configmap {kube.configmap} {where} -o yaml",
    }
    aliases = {
        "status": "get pods", "pods": "get pods", "endpoints": "get endpoints", "svc": "get svc",
        "service": "get svc", "history": "rollout history", "events": "get events", "restart": "rollout restart",
        "undo": "rollout undo", "rollback": "rollout undo", "deploy": "set image", "apply": "apply config",
        "restore config": "apply config", "config": "get configmap",
    }
    words = aliases.get(words, words)
    if words in known:
        return known[words]
    return f"kubectl {words} {where}".strip()


def exec_command(remote: str, kube: Cluster, context: str) -> str:
    """A command as run from one of the service's pods (the runbook's step-3 checks: ``pg_isready -h ...``)."""
    return f"kubectl exec deployment/{kube.deployment} {scope(kube, context)} -- {remote}"
