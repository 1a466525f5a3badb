"""Step 3 from the service's side of the network: a dependency cut off by a NetworkPolicy is found by evaluating
every policy of the namespace with the standard semantics, whoever wrote it and whatever it is called.

The end-to-end tests apply policies by hand with the real kubectl (as an engineer locking down egress after an
incident would) and run ``gameday diagnose``; the rest exercise the evaluator on plain policy documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday import config as gameday_config
from gameday.config import use_settings
from gameday.diagnose import diagnose, load_runbook
from gameday.diagnose.rules import NO_OUTAGE, dependency_verdict
from gameday.targets.kubernetes import policies
from gameday.targets.kubernetes.policies import Peer, connection_allowed
from gameday.targets.kubernetes.target import KubernetesTarget

from .conftest import BACKEND, Baseline, KubeTarget
from .driver_support import gameday_cli, kube_flags, settings_for

pytestmark = pytest.mark.kubernetes


def proxy_url(kube: KubeTarget) -> str:
    """The service reached through the fake API server's service proxy (a real one would want credentials)."""
    if kube.api is None:
        pytest.skip("the service's API is reached through the fake API server's proxy: the fake API only")
    return f"{kube.api.url}/api/v1/namespaces/{kube.namespace}/services/{BACKEND}:80/proxy"


def netpol(name: str, pod_selector: dict[str, Any], egress: list[dict[str, Any]]) -> dict[str, Any]:
    """A NetworkPolicy as a person writes it: an arbitrary name, no label or annotation of gameday's."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name},
            "spec": {"podSelector": pod_selector, "policyTypes": ["Egress"], "egress": egress}}


@pytest.fixture
def by_hand(scenario: KubeTarget, baseline: Baseline) -> Iterator[Any]:
    """``kubectl apply -f -`` of policies; every one applied is deleted afterwards (before the scenario's restore)."""
    applied: list[str] = []

    def apply(*docs: dict[str, Any]) -> None:
        for doc in docs:
            scenario.kubectl("-n", scenario.namespace, "apply", "-f", "-", stdin=yaml.safe_dump(doc))
            applied.append(doc["metadata"]["name"])

    yield apply
    for name in applied:
        scenario.kubectl("-n", scenario.namespace, "delete", "networkpolicy", name, "--ignore-not-found")


def cli_diagnosis(kube: KubeTarget, tmp_path: Path) -> dict[str, Any]:
    done = gameday_cli(*kube_flags(kube), "diagnose", "--json", state_dir=tmp_path / "state",
                       env={"GAMEDAY_KUBERNETES__BASE_URL": proxy_url(kube)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def checks_of(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result["evidence"]["dependencies"]}


# -- end to end: kubectl apply, gameday diagnose -------------------------------------------------------------------

def test_a_deny_egress_policy_applied_by_hand_is_the_dependency_hanging(scenario: KubeTarget, by_hand, tmp_path: Path):
    """Egress from the backend allowed only to the ports of redis, kafka and DNS: postgres is cut off. A CNI that
    enforces policies (Calico, Cilium) drops the denied packets: connections time out, so the step-3 check from the
    pods' side times out and the critical postgres is named as hanging (no label, annotation or event of gameday's
    exists here to read)."""
    by_hand(netpol("incident-4711-egress-lockdown", {"matchLabels": {"app": BACKEND}},
                   [{"ports": [{"port": 6379}, {"port": 9092}, {"port": 53, "protocol": "UDP"}]}]))
    result = cli_diagnosis(scenario, tmp_path)
    profile = KubernetesTarget(settings_for(scenario, tmp_path / "s")).profile
    assert result["verdict"]["scored"] == dependency_verdict(profile, "postgres", hung=True) \
        == "dependency-hang:postgres", result["verdict"]
    checks = checks_of(result)
    assert not checks["postgres"]["ok"] and "timed out" in checks["postgres"]["detail"], checks["postgres"]
    assert "incident-4711-egress-lockdown" in checks["postgres"]["detail"]
    assert "postgres-0:5432/TCP" in checks["postgres"]["detail"]
    assert checks["redis"]["ok"] and checks["kafka"]["ok"], checks


def test_a_policy_allowing_egress_to_the_dependencies_is_no_outage(scenario: KubeTarget, by_hand, tmp_path: Path):
    """A default-deny egress policy for every pod, and a second one that lets the backend reach its data stores:
    policies add up, so nothing is cut. Without the second, postgres is (named by the first)."""
    by_hand(netpol("default-deny-egress", {}, []),
            netpol("backend-to-data-stores", {"matchLabels": {"app": BACKEND}},
                   [{"to": [{"podSelector": {"matchExpressions": [
                       {"key": "app", "operator": "In", "values": ["postgres", "redis", "kafka"]}]}}],
                     "ports": [{"port": 5432}, {"port": 6379}, {"port": 9092}]}]))
    result = cli_diagnosis(scenario, tmp_path)
    assert result["verdict"]["scored"] == NO_OUTAGE, result["verdict"]
    assert all(c["ok"] for c in checks_of(result).values()), checks_of(result)

    scenario.kubectl("-n", scenario.namespace, "delete", "networkpolicy", "backend-to-data-stores")
    target = KubernetesTarget(settings_for(scenario, tmp_path / "s"))
    try:
        check = target.check_dependency("postgres")
    finally:
        target.client.close()
    assert not check.ok and "default-deny-egress" in check.detail, check


@pytest.mark.parametrize("dependency", ["postgres", "redis"])
def test_gamedays_own_hang_fault_is_diagnosed_a_hang(scenario: KubeTarget, tmp_path: Path, dependency: str):
    """hang-dependency without Chaos Mesh or Toxiproxy: its NetworkPolicy denies egress to the dependency, the CNI
    drops the packets, the step-3 check times out: ``dependency-hang:postgres`` (critical); redis, which the service
    survives, ``dependency-degraded:redis``."""
    base = settings_for(scenario, tmp_path / "state")
    settings = base.model_copy(update={"kubernetes": base.kubernetes.model_copy(
        update={"base_url": proxy_url(scenario)})})
    saved = list(gameday_config._current)
    use_settings(settings)
    target = KubernetesTarget(settings)
    try:
        target.hang_dependency(dependency)
        try:
            verdict = diagnose(target, target.profile, load_runbook()).verdict
        finally:
            target.release_dependency(dependency)
        assert verdict.scored == dependency_verdict(target.profile, dependency, hung=True), verdict.summary
    finally:
        target.client.close()
        gameday_config._current[:] = saved


# -- the evaluator ---------------------------------------------------------------------------------------------------

NS_LABELS = {"kubernetes.io/metadata.name": "shop"}
APP = Peer("backend-1", "shop", {"app": "backend"}, NS_LABELS, "10.0.0.5")
DB = Peer("db-0", "shop", {"app": "db"}, NS_LABELS, "10.0.1.7", {"pg": (5432, "TCP")})


def policy(spec: dict[str, Any], name: str = "p", namespace: str = "shop") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def egress_only(*rules: dict[str, Any], selector: dict[str, Any] | None = None, name: str = "p") -> dict[str, Any]:
    return policy({"podSelector": selector or {}, "policyTypes": ["Egress"], "egress": list(rules)}, name)


def allowed(*docs: dict[str, Any], source: Peer = APP, destination: Peer = DB, port: int = 5432) -> bool:
    return connection_allowed(list(docs), source, destination, port)[0]


def test_no_policy_and_ingress_only_policies_leave_egress_open():
    assert allowed()
    ingress_on_app = policy({"podSelector": {"matchLabels": {"app": "backend"}}, "policyTypes": ["Ingress"],
                             "ingress": []}, "ingress-on-app")
    assert allowed(ingress_on_app)
    assert not allowed(policy({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}))  # every pod's ingress


def test_policies_add_up_and_ports_and_selectors_decide():
    deny = egress_only(name="deny-all")
    assert not allowed(deny)
    assert allowed(deny, egress_only({"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}))
    assert not allowed(deny, egress_only({"to": [{"podSelector": {"matchLabels": {"app": "cache"}}}]}))
    assert allowed(egress_only({"ports": [{"port": "pg"}]}))  # a named port: the destination's container port
    assert not allowed(egress_only({"ports": [{"port": 6379}]}))
    assert allowed(egress_only({"ports": [{"port": 5000, "endPort": 6000}]}))
    assert not allowed(egress_only({"ports": [{"port": 5432, "protocol": "UDP"}]}))
    # NotIn selects pods without the key too, and not the dependency's
    assert not allowed(egress_only({"to": [{"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["db"]}]}}]}))
    # a policy selecting other pods does not isolate this one
    assert allowed(egress_only(selector={"matchLabels": {"app": "batch"}}))


def test_namespace_selectors_and_ip_blocks():
    other_ns = {"kubernetes.io/metadata.name": "data"}
    db_elsewhere = Peer("db-0", "data", {"app": "db"}, other_ns, "10.0.9.9")
    same_ns_pods = egress_only({"to": [{"podSelector": {}}]})
    assert allowed(same_ns_pods) and not allowed(same_ns_pods, destination=db_elsewhere)
    assert allowed(egress_only({"to": [{"namespaceSelector": {"matchLabels": other_ns}}]}), destination=db_elsewhere)
    block = egress_only({"to": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]}}]})
    assert not allowed(block) and allowed(block, destination=db_elsewhere)
    external = Peer("db.example.com:5432", None, ip="192.0.2.10")
    assert not allowed(same_ns_pods, destination=external)
    assert allowed(egress_only({"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}), destination=external)


def test_ingress_isolation_of_the_dependency_cuts_it_too():
    only_from_batch = policy({"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
                              "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "batch"}}}]}]},
                             "db-ingress")
    ok, why = connection_allowed([only_from_batch], APP, DB, 5432)
    assert not ok and "ingress to pod db-0" in why and "db-ingress" in why


def test_gamedays_name_and_labels_play_no_part():
    """gameday's hang policy and the same spec under another name, without labels or annotations: same verdict."""
    own = policies.hang_policy("db", {"app": "backend"}, {"db": {"app": "db"}})
    own["metadata"]["namespace"] = "shop"
    stranger = policy(own["spec"], "someone-elses-policy")
    assert connection_allowed([own], APP, DB, 5432)[0] is connection_allowed([stranger], APP, DB, 5432)[0] is False
    cache = Peer("cache-0", "shop", {"app": "cache"}, NS_LABELS, "10.0.2.2")
    assert connection_allowed([own], APP, cache, 6379)[0] and connection_allowed([stranger], APP, cache, 6379)[0]


def test_two_of_gamedays_hang_policies_cut_both_dependencies():
    """Policies add up: two policies each keeping out only its own dependency would let each other's through."""
    hung = {"db": {"app": "db"}, "cache": {"app": "cache"}}
    cache = Peer("cache-0", "shop", {"app": "cache"}, NS_LABELS, "10.0.2.2")
    both = [policy(policies.hang_policy(name, {"app": "backend"}, hung)["spec"], name) for name in hung]
    assert not allowed(*both) and not allowed(*both, destination=cache, port=6379)
    each_its_own = [policy(policies.hang_policy(name, {"app": "backend"}, {name: labels})["spec"], name)
                    for name, labels in hung.items()]
    assert allowed(*each_its_own)
