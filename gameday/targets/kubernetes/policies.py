"""NetworkPolicies that make things hang on Kubernetes (there is no SIGSTOP through the API).

* Frozen replicas: the chosen pods get the label ``gameday.io/frozen=true`` and one policy denies all
  ingress to pods with that label. Connections to them are dropped, so requests through the Service
  hang instead of failing fast; the kubelet's probes come from the node, which network plugins let
  through, so the pods usually stay ready (a frozen process would fail its probes: see deploy/README.md).
* A hung dependency: a policy selecting the service's pods allows egress to every pod of the namespace
  except the dependency's (one peer per label of its selector: not (a and b) = not a or not b) and to
  the cluster DNS, so connections to the dependency hang while everything else still answers.

Both carry ``app.kubernetes.io/managed-by=gameday`` so that people (and ``gameday abort``) can find them.
The network plugin must enforce NetworkPolicies (kind's kindnet does since kind 0.24; Calico, Cilium ...).
"""

from __future__ import annotations

from typing import Any

MANAGED_BY = {"app.kubernetes.io/managed-by": "gameday"}
FROZEN_LABEL = "gameday.io/frozen"
FAULT_LABEL = "gameday.io/fault"


def parse_selector(selector: str) -> dict[str, str]:
    """``app=ecommerce-backend,tier=web`` as matchLabels (equality selectors only)."""
    labels: dict[str, str] = {}
    for part in (p.strip() for p in selector.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or key.endswith("!"):
            raise ValueError(f"label selector {selector!r}: only key=value terms are supported")
        labels[key.strip()] = value.lstrip("=").strip()
    if not labels:
        raise ValueError("empty label selector")
    return labels


def freeze_policy_name(deployment: str) -> str:
    """The one freeze policy of a deployment."""
    return f"gameday-freeze-{deployment}"


def hang_policy_name(dependency: str) -> str:
    """The hang policy of one dependency."""
    return f"gameday-hang-{dependency}"


def freeze_policy(deployment: str, app_labels: dict[str, str]) -> dict[str, Any]:
    """Deny all ingress to the deployment's pods that carry the frozen label."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": freeze_policy_name(deployment),
                     "labels": {**MANAGED_BY, FAULT_LABEL: "freeze-replicas"},
                     "annotations": {"gameday.io/description": "replicas frozen: all ingress denied"}},
        "spec": {
            "podSelector": {"matchLabels": {**app_labels, FROZEN_LABEL: "true"}},
            "policyTypes": ["Ingress"],
            "ingress": [],
        },
    }


def hang_policy(dependency: str, app_labels: dict[str, str], dependency_labels: dict[str, str]) -> dict[str, Any]:
    """Egress from the app's pods allowed everywhere in the namespace except to the dependency's pods, plus DNS."""
    not_the_dependency = [
        {"podSelector": {"matchExpressions": [{"key": key, "operator": "NotIn", "values": [value]}]}}
        for key, value in sorted(dependency_labels.items())
    ]
    dns = {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": hang_policy_name(dependency),
                     "labels": {**MANAGED_BY, FAULT_LABEL: "hang-dependency", "gameday.io/dependency": dependency},
                     "annotations": {"gameday.io/description": f"egress to {dependency} denied: connections hang"}},
        "spec": {
            "podSelector": {"matchLabels": dict(app_labels)},
            "policyTypes": ["Egress"],
            "egress": [{"to": not_the_dependency}, dns],
        },
    }
