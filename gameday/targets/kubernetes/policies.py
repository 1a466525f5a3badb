"""NetworkPolicies: the ones gameday writes to make things hang on Kubernetes (there is no SIGSTOP through the
API), and how *any* policy of a namespace decides whether a connection gets through.

* Frozen replicas: the chosen pods get the label ``gameday.io/frozen=true`` and one policy denies all
  ingress to pods with that label. Connections to them are dropped, so requests through the Service
  hang instead of failing fast; the kubelet's probes come from the node, which network plugins let
  through, so the pods usually stay ready (a frozen process would fail its probes: see deploy/README.md).
* A hung dependency: a policy selecting the service's pods allows egress to every pod of the namespace
  except the pods of every dependency hung at the moment, and to the cluster DNS, so connections to them
  hang while everything else still answers (each hung dependency has its policy; all are rewritten when
  one is hung or released, since policies add up).

Both carry ``app.kubernetes.io/managed-by=gameday`` so that people (and ``gameday abort``) can find them.
The network plugin must enforce NetworkPolicies (kind's kindnet does since kind 0.24; Calico, Cilium ...).

Whether a dependency is reachable is judged by :func:`connection_allowed` over every policy of the namespace with
the standard semantics, never by a policy's name or labels: a hung dependency that someone else's policy (or a
``kubectl apply`` by hand) caused looks exactly like gameday's own.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MANAGED_BY = {"app.kubernetes.io/managed-by": "gameday"}
FROZEN_LABEL = "gameday.io/frozen"
FAULT_LABEL = "gameday.io/fault"
DEPENDENCY_LABEL = "gameday.io/dependency"
HANG = "hang-dependency"
STOP = "stop-dependency"  # a dependency that is not the team's own: its outage is its egress denied, like a hang


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


def format_selector(labels: dict[str, str]) -> str:
    """matchLabels as the ``label_selector`` of a list call (:func:`parse_selector`'s inverse, keys sorted)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def freeze_policy_name(deployment: str) -> str:
    """The one freeze policy of a deployment."""
    return f"gameday-freeze-{deployment}"


def hang_policy_name(dependency: str, fault: str = HANG) -> str:
    """The egress policy of one dependency: ``gameday-hang-<dep>``, or ``gameday-stop-<dep>`` for stop-dependency."""
    return f"gameday-{'stop' if fault == STOP else 'hang'}-{dependency}"


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


def hang_policy(dependency: str, app_labels: dict[str, str], hung: dict[str, dict[str, str]],
                fault: str = HANG) -> dict[str, Any]:
    """Egress from the app's pods allowed everywhere in the namespace except to the pods of every hung dependency,
    plus DNS. ``hung``: the selector labels of each dependency hung now, this one included. Policies add up, so
    each must keep out all of them: "everything but redis" in one policy would let postgres through another's
    "everything but postgres". Not (a and b) = not a or not b, hence one peer per combination of labels."""
    terms = [[{"key": key, "operator": "NotIn", "values": [value]} for key, value in sorted(labels.items())]
             for _, labels in sorted(hung.items())]
    not_any_of_them = [{"podSelector": {"matchExpressions": list(combination)}}
                       for combination in itertools.product(*terms)]
    dns = {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": hang_policy_name(dependency, fault),
                     "labels": {**MANAGED_BY, FAULT_LABEL: fault, DEPENDENCY_LABEL: dependency},
                     "annotations": {"gameday.io/description": f"egress to {dependency} denied: connections hang"
                                     + (" (its outage, cut at the service's side)" if fault == STOP else "")}},
        "spec": {
            "podSelector": {"matchLabels": dict(app_labels)},
            "policyTypes": ["Egress"],
            "egress": [{"to": not_any_of_them}, dns],
        },
    }


# --- how any NetworkPolicy decides traffic --------------------------------------------------------------------------
@dataclass(frozen=True)
class Peer:
    """One end of a connection: a pod (namespace, its labels and the namespace's, IP, named container ports), or an
    address outside the cluster (``namespace`` None: only ``ipBlock`` peers and open rules match it)."""

    name: str
    namespace: str | None
    labels: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)
    ip: str | None = None
    ports: dict[str, tuple[int, str]] = field(default_factory=dict)  # container port name -> (number, protocol)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """A LabelSelector (``matchLabels`` and ``matchExpressions``) against labels; ``{}`` selects everything."""
    labels = labels or {}
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _types(spec: dict[str, Any]) -> list[str]:
    """``policyTypes`` as the API server defaults it: Ingress, plus Egress when egress rules are given."""
    return spec.get("policyTypes") or (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])


def _in_block(block: dict[str, Any], ip: str | None) -> bool:
    """An ``ipBlock``; an address not known (a host name) gets the benefit of the doubt."""
    if ip is None:
        return True
    try:
        address = ipaddress.ip_address(ip)
        if address not in ipaddress.ip_network(block.get("cidr", ""), strict=False):
            return False
        return not any(address in ipaddress.ip_network(e, strict=False) for e in block.get("except") or [])
    except ValueError:
        return False


def _peer_matches(peer: dict[str, Any], policy_namespace: str, other: Peer) -> bool:
    """A rule's ``to``/``from`` entry against the other end of the connection."""
    if "ipBlock" in peer:
        return _in_block(peer["ipBlock"], other.ip)
    if other.namespace is None:  # outside the cluster: pod and namespace selectors select pods only
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], other.namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selector_matches(peer["podSelector"], other.labels)


def _port_matches(rule_ports: list[dict[str, Any]], port: int, protocol: str, destination: Peer) -> bool:
    """A rule's ``ports`` (none: every port); a named port is the destination's container port of that name."""
    if not rule_ports:
        return True
    for entry in rule_ports:
        if (entry.get("protocol") or "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str) and not wanted.isdigit():
            if destination.ports.get(wanted) == (port, protocol):
                return True
            continue
        low = int(wanted)
        if low <= port <= int(entry.get("endPort") or low):
            return True
    return False


def _selecting(policies: Iterable[dict[str, Any]], pod: Peer, direction: str) -> list[dict[str, Any]]:
    """The policies of the pod's namespace that select it and restrict this direction (it is isolated if any)."""
    return [p for p in policies
            if (p.get("metadata") or {}).get("namespace", pod.namespace) == pod.namespace
            and direction in _types(p.get("spec") or {})
            and selector_matches((p.get("spec") or {}).get("podSelector"), pod.labels)]


def _names(policies: list[dict[str, Any]]) -> str:
    return ", ".join(sorted((p.get("metadata") or {}).get("name", "?") for p in policies))


def connection_allowed(policies: list[dict[str, Any]], source: Peer, destination: Peer, port: int,
                       protocol: str = "TCP") -> tuple[bool, str]:
    """Whether NetworkPolicies let ``source`` open a connection to ``destination:port``, and if not, what the
    source sees and why.

    Standard semantics: a pod selected by any policy with policyType Egress is isolated for egress, and its
    connection leaves only if some rule of one of those policies allows the destination and port; likewise a
    destination pod isolated for ingress accepts it only if some ingress rule allows the source. Policies add up
    (there is no deny rule), and nothing but their specs counts. A denied connection is not refused: the network
    plugins that enforce policies (Calico, Cilium, kindnet) drop its packets, so the source's connect() gets no
    answer and times out. That is what the reason says first, as a check run in the source pod would report it."""
    where = f"{destination.name}:{port}/{protocol}"
    dropped = f"connect to {where} timed out (its packets dropped): "
    if source.namespace is not None:
        isolating = _selecting(policies, source, "Egress")
        if isolating and not any(
            _port_matches(rule.get("ports") or [], port, protocol, destination)
            and (not rule.get("to") or any(_peer_matches(peer, source.namespace, destination) for peer in rule["to"]))
            for policy in isolating for rule in (policy.get("spec") or {}).get("egress") or []
        ):
            return False, (f"{dropped}egress from pod {source.name} is restricted by NetworkPolicy "
                           f"{_names(isolating)}, and none allows {where}")
    if destination.namespace is not None:
        isolating = _selecting(policies, destination, "Ingress")
        if isolating and not any(
            _port_matches(rule.get("ports") or [], port, protocol, destination)
            and (not rule.get("from")
                 or any(_peer_matches(peer, destination.namespace, source) for peer in rule["from"]))
            for policy in isolating for rule in (policy.get("spec") or {}).get("ingress") or []
        ):
            return False, (f"{dropped}ingress to pod {destination.name} is restricted by NetworkPolicy "
                           f"{_names(isolating)}, and none allows {source.name} to {where}")
    return True, ""
