"""API semantics: discovery, CRUD and errors as Status, selectors, patches, watch, subresources."""

from __future__ import annotations

import functools
import json
import threading
import urllib.error
import urllib.request
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest
from kubernetes import client, watch

from tests.fakekube import FakeKube
from tests.fakekube.api import DEPLOYMENTS

from .conftest import KubeTarget, wait_for

pytestmark = pytest.mark.kubernetes

PAUSE = "registry.k8s.io/pause:3.10"


def status_of(exc: client.ApiException) -> dict[str, Any]:
    """The ``Status`` object of an API error."""
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
    assert body["status"] == "Failure" and body["code"] == exc.status, body
    return body


def raw_get(fake: FakeKube, path: str, accept: str | None = None) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(fake.url + path, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            body = resp.read()
            return resp.status, dict(resp.headers), json.loads(body)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def bare_pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": PAUSE}], "terminationGracePeriodSeconds": 0},
    }


# -- discovery ---------------------------------------------------------------------------------------


def test_discovery_through_the_client(kube: KubeTarget) -> None:
    api = kube.client()
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "policy", "networking.k8s.io"} <= groups
    core = {r.name for r in client.CoreV1Api(api).get_api_resources().resources}
    assert {"namespaces", "pods", "pods/log", "services", "endpoints", "configmaps", "events"} <= core
    apps = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert {"deployments", "deployments/scale", "replicasets", "statefulsets"} <= set(apps)
    scale = apps["deployments/scale"]
    assert (scale.group, scale.version, scale.kind) == ("autoscaling", "v1", "Scale")
    assert {r.name for r in client.PolicyV1Api(api).get_api_resources().resources} >= {"poddisruptionbudgets"}
    assert "networkpolicies" in {r.name for r in client.NetworkingV1Api(api).get_api_resources().resources}
    assert client.VersionApi(api).get_code().major == "1"


def test_discovery_documents_and_content_negotiation(requires_fake: FakeKube) -> None:
    fake = requires_fake
    deserialize = client.ApiClient().deserialize
    expected = {
        "/version": "VersionInfo",
        "/api": "V1APIVersions",
        "/apis": "V1APIGroupList",
        "/api/v1": "V1APIResourceList",
        "/apis/apps/v1": "V1APIResourceList",
        "/apis/policy/v1": "V1APIResourceList",
        "/apis/networking.k8s.io/v1": "V1APIResourceList",
        "/apis/apps": "V1APIGroup",
    }
    for path, model in expected.items():
        code, headers, body = raw_get(fake, path)
        assert code == 200, (path, body)
        assert headers["Content-Type"] == "application/json"
        assert deserialize(json.dumps(body), model, "application/json") is not None
    # kubectl asks for aggregated discovery first; the plain documents are the answer
    aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    code, headers, body = raw_get(fake, "/apis", aggregated)
    assert (code, headers["Content-Type"], body["kind"]) == (200, "application/json", "APIGroupList")
    # protobuf is answered with JSON
    code, headers, body = raw_get(
        fake, "/api/v1/namespaces/production/pods", "application/vnd.kubernetes.protobuf,application/json"
    )
    assert (code, headers["Content-Type"], body["kind"]) == (200, "application/json", "PodList")
    code, _headers, body = raw_get(fake, "/openapi/v2")
    assert code == 404 and body["kind"] == "Status"


def test_kubectl_discovery(kube: KubeTarget) -> None:
    out = kube.kubectl("api-resources").stdout
    for name in ("deployments", "poddisruptionbudgets", "networkpolicies", "configmaps", "events"):
        assert name in out
    versions = kube.kubectl("api-versions").stdout.split()
    assert {"v1", "apps/v1", "policy/v1", "networking.k8s.io/v1"} <= set(versions)
    if kube.api is not None:
        asked = [r for r in kube.api.requests if "as=APIGroupDiscoveryList" in r["accept"]]
        assert asked and all(r["status"] == 200 for r in asked)


# -- CRUD and errors ---------------------------------------------------------------------------------


def test_crud_and_status_errors(kube: KubeTarget, scratch_namespace: str) -> None:
    core = kube.core()
    ns = scratch_namespace
    created = core.create_namespaced_config_map(ns, {"metadata": {"name": "cfg"}, "data": {"A": "1"}})
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp

    with pytest.raises(client.ApiException) as exc:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "cfg"}, "data": {}})
    st = status_of(exc.value)
    assert (exc.value.status, st["reason"], st["details"]["name"]) == (409, "AlreadyExists", "cfg")

    with pytest.raises(client.ApiException) as exc:
        core.read_namespaced_config_map("missing", ns)
    st = status_of(exc.value)
    assert (exc.value.status, st["reason"], st["details"]["kind"]) == (404, "NotFound", "configmaps")
    assert st["message"] == 'configmaps "missing" not found'

    stale = created.metadata.resource_version
    created.data = {"A": "2"}
    updated = core.replace_namespaced_config_map("cfg", ns, created)
    assert updated.data == {"A": "2"} and updated.metadata.resource_version != stale
    created.metadata.resource_version = stale
    with pytest.raises(client.ApiException) as exc:
        core.replace_namespaced_config_map("cfg", ns, created)
    assert (exc.value.status, status_of(exc.value)["reason"]) == (409, "Conflict")

    with pytest.raises(client.ApiException) as exc:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "Bad_Name"}})
    st = status_of(exc.value)
    assert (exc.value.status, st["reason"]) == (422, "Invalid")
    assert any(c["field"] == "metadata.name" for c in st["details"]["causes"])

    deleted = core.delete_namespaced_config_map("cfg", ns)
    assert deleted["kind"] == "Status" and deleted["status"] == "Success"
    with pytest.raises(client.ApiException) as exc:
        core.read_namespaced_config_map("cfg", ns)
    assert exc.value.status == 404


def test_invalid_deployment_is_422(kube: KubeTarget, scratch_namespace: str) -> None:
    body = {
        "metadata": {"name": "bad"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "y"}},
                "spec": {"containers": [{"name": "c", "image": PAUSE}]},
            },
        },
    }
    with pytest.raises(client.ApiException) as exc:
        kube.apps().create_namespaced_deployment(scratch_namespace, body)
    st = status_of(exc.value)
    assert (exc.value.status, st["reason"], st["details"]["kind"]) == (422, "Invalid", "Deployment")
    assert any(c["field"] == "spec.template.metadata.labels" for c in st["details"]["causes"])


def test_lists_carry_kind_api_version_and_resource_version(kube: KubeTarget) -> None:
    for call, kind, api_version in (
        (lambda: kube.core().list_namespaced_pod(kube.namespace, _preload_content=False), "PodList", "v1"),
        (
            lambda: kube.apps().list_namespaced_deployment(kube.namespace, _preload_content=False),
            "DeploymentList",
            "apps/v1",
        ),
        (lambda: kube.core().list_event_for_all_namespaces(_preload_content=False), "EventList", "v1"),
    ):
        body = json.loads(call().data)
        assert (body["kind"], body["apiVersion"]) == (kind, api_version)
        assert body["metadata"]["resourceVersion"]


def test_defaults_are_filled_in(kube: KubeTarget) -> None:
    d = kube.apps().read_namespaced_deployment("ecommerce-backend", kube.namespace)
    assert d.spec.strategy.type == "RollingUpdate" and d.spec.strategy.rolling_update.max_surge == "25%"
    assert (d.spec.revision_history_limit, d.spec.progress_deadline_seconds) == (10, 600)
    pod_spec = d.spec.template.spec
    assert (pod_spec.restart_policy, pod_spec.dns_policy, pod_spec.termination_grace_period_seconds) == (
        "Always",
        "ClusterFirst",
        30,
    )
    container = pod_spec.containers[0]
    assert container.termination_message_path == "/dev/termination-log"
    assert (container.termination_message_policy, container.image_pull_policy) == ("File", "IfNotPresent")
    svc = kube.core().read_namespaced_service("ecommerce-backend", kube.namespace)
    assert svc.spec.type == "ClusterIP" and svc.spec.session_affinity == "None" and svc.spec.cluster_ip


# -- selectors ---------------------------------------------------------------------------------------


def test_set_based_selectors_and_scoped_delete(kube: KubeTarget, scratch_namespace: str) -> None:
    core, ns = kube.core(), scratch_namespace
    pods = {
        "web-1": {"tier": "web", "env": "prod"},
        "web-2": {"tier": "web", "env": "dev", "canary": "true"},
        "api-1": {"tier": "api", "env": "prod"},
        "db-1": {"tier": "db"},
    }
    for name, labels in pods.items():
        core.create_namespaced_pod(ns, bare_pod(name, labels))

    def names(selector: str | None = None, field: str | None = None) -> set[str]:
        items = core.list_namespaced_pod(ns, label_selector=selector, field_selector=field).items
        return {p.metadata.name for p in items if p.metadata.deletion_timestamp is None}

    assert names("tier in (web,api)") == {"web-1", "web-2", "api-1"}
    assert names("tier notin (web)") == {"api-1", "db-1"}
    assert names("!canary") == {"web-1", "api-1", "db-1"}
    assert names("canary") == {"web-2"}
    assert names("tier=web,env!=prod") == {"web-2"}
    assert names("env") == {"web-1", "web-2", "api-1"}
    assert names(field="metadata.name=db-1") == {"db-1"}
    assert names("tier", field=f"metadata.namespace={ns}") == set(pods)
    everywhere = core.list_pod_for_all_namespaces(label_selector="tier in (web,api,db)").items
    assert {p.metadata.name for p in everywhere if p.metadata.namespace == ns} == set(pods)

    core.delete_collection_namespaced_pod(ns, label_selector="tier in (web)", grace_period_seconds=0)
    wait_for(lambda: names() == {"api-1", "db-1"}, message="only the web pods deleted")


def test_field_selector_status_phase(kube: KubeTarget) -> None:
    core = kube.core()
    running = core.list_namespaced_pod(kube.namespace, field_selector="status.phase=Running").items
    assert {p.metadata.labels["app"] for p in running} >= {"ecommerce-backend", "postgres"}
    assert core.list_namespaced_pod(kube.namespace, field_selector="status.phase=Failed").items == []


# -- patches -----------------------------------------------------------------------------------------


def _deployment(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": name, "keep": "yes"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": PAUSE,
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        },
                        {"name": "sidecar", "image": PAUSE},
                    ]
                },
            },
        },
    }


def test_merge_strategic_and_json_patches(kube: KubeTarget, scratch_namespace: str) -> None:
    apps, ns = kube.apps(), scratch_namespace
    apps.create_namespaced_deployment(ns, _deployment("patchme"))

    merged = apps.patch_namespaced_deployment(
        "patchme",
        ns,
        {"metadata": {"labels": {"keep": None, "new": "1"}}},
        _content_type="application/merge-patch+json",
    )
    assert merged.metadata.labels == {"app": "patchme", "new": "1"}

    smp = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                    "containers": [
                        {
                            "name": "app",
                            "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "A"}],
                        }
                    ],
                }
            }
        }
    }
    patched = apps.patch_namespaced_deployment(
        "patchme", ns, smp, _content_type="application/strategic-merge-patch+json"
    )
    containers = patched.spec.template.spec.containers
    assert [c.name for c in containers] == ["app", "sidecar"]
    assert containers[0].image == PAUSE
    assert {e.name: e.value for e in containers[0].env} == {"B": "2", "C": "3"}

    replaced = apps.patch_namespaced_deployment(
        "patchme",
        ns,
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}},
        _content_type="application/strategic-merge-patch+json",
    )
    assert replaced.spec.strategy.type == "Recreate" and replaced.spec.strategy.rolling_update is None

    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 2},
        {"op": "add", "path": "/metadata/annotations", "value": {"x": "y"}},
    ]
    jp = apps.patch_namespaced_deployment("patchme", ns, ops, _content_type="application/json-patch+json")
    assert jp.spec.replicas == 2 and jp.metadata.annotations["x"] == "y"

    with pytest.raises(client.ApiException) as exc:
        apps.patch_namespaced_deployment(
            "patchme",
            ns,
            [{"op": "test", "path": "/spec/replicas", "value": 5}],
            _content_type="application/json-patch+json",
        )
    assert exc.value.status == 422


def test_apply_patch_is_refused_with_415(requires_fake: FakeKube, kube: KubeTarget) -> None:
    with pytest.raises(client.ApiException) as exc:
        kube.core().patch_namespaced_config_map(
            "ecommerce-backend-config",
            kube.namespace,
            {"data": {"X": "1"}},
            _content_type="application/apply-patch+yaml",
            field_manager="test",
        )
    st = status_of(exc.value)
    assert exc.value.status == 415 and "server-side apply" in st["message"]


# -- watch -------------------------------------------------------------------------------------------


def test_watch_from_resource_version(kube: KubeTarget, scratch_namespace: str) -> None:
    core, ns = kube.core(), scratch_namespace
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "w", "labels": {"w": "1"}}, "data": {"a": "1"}}
    )
    core.patch_namespaced_config_map("w", ns, {"data": {"a": "2"}})
    core.delete_namespaced_config_map("w", ns)
    seen = []
    w = watch.Watch()
    for event in w.stream(
        core.list_namespaced_config_map, ns, label_selector="w=1", resource_version=rv, timeout_seconds=5
    ):
        seen.append((event["type"], event["object"].data))
        if event["type"] == "DELETED":
            w.stop()
    assert [t for t, _ in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert seen[1][1] == {"a": "2"}
    assert isinstance(event["object"], client.V1ConfigMap)


def test_watch_sees_pod_changes_live(kube: KubeTarget, scenario: KubeTarget) -> None:
    core, ns = kube.core(), kube.namespace
    victim = core.list_namespaced_pod(ns, label_selector="app=ecommerce-backend").items[0].metadata.name
    events: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for event in w.stream(
            core.list_namespaced_pod, ns, label_selector="app=ecommerce-backend", timeout_seconds=10
        ):
            events.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED" and event["object"].metadata.name == victim:
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    wait_for(lambda: len(events) >= 3, message="initial ADDED events")
    core.delete_namespaced_pod(victim, ns)
    thread.join(15)
    assert not thread.is_alive()
    assert ("DELETED", victim) in events
    assert any(t == "ADDED" and n != victim for t, n in events[3:]), events


def test_watch_honours_timeout_seconds(kube: KubeTarget, scratch_namespace: str) -> None:
    import time

    start = time.monotonic()
    events = list(
        watch.Watch().stream(kube.core().list_namespaced_config_map, scratch_namespace, timeout_seconds=1)
    )
    assert time.monotonic() - start < 5
    assert all(e["type"] == "ADDED" for e in events)


# -- subresources and odds -----------------------------------------------------------------------------


def test_scale_subresource(kube: KubeTarget, scratch_namespace: str) -> None:
    apps, ns = kube.apps(), scratch_namespace
    apps.create_namespaced_deployment(ns, _deployment("scaled"))
    scale = apps.read_namespaced_deployment_scale("scaled", ns)
    assert scale.kind == "Scale" and scale.spec.replicas == 0 and scale.status.selector == "app=scaled"
    apps.patch_namespaced_deployment_scale("scaled", ns, {"spec": {"replicas": 2}})
    assert apps.read_namespaced_deployment("scaled", ns).spec.replicas == 2


def test_dry_run_does_not_persist(kube: KubeTarget, scratch_namespace: str) -> None:
    core = kube.core()
    core.create_namespaced_config_map(scratch_namespace, {"metadata": {"name": "dry"}}, dry_run="All")
    with pytest.raises(client.ApiException) as exc:
        core.read_namespaced_config_map("dry", scratch_namespace)
    assert exc.value.status == 404


def test_exec_is_refused_with_a_clear_status(requires_fake: FakeKube, kube: KubeTarget) -> None:
    pod = kube.core().list_namespaced_pod(kube.namespace, label_selector="app=ecommerce-backend").items[0]
    request = urllib.request.Request(
        f"{requires_fake.url}/api/v1/namespaces/{kube.namespace}/pods/{pod.metadata.name}/exec"
        "?command=pg_isready&stdout=true",
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=5)
    body = json.loads(exc.value.read())
    assert exc.value.code == 501 and body["reason"] == "NotImplemented"
    assert "cannot run processes" in body["message"]


def test_every_object_passes_client_and_schema_validation(
    requires_fake: FakeKube, kube: KubeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kubernetes_validate re-reads its (large) schema files on every call: cache them for this test
    monkeypatch.setattr(
        kubernetes_validate.utils,
        "schema_contents",
        functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents),
    )
    deserialize = client.ApiClient().deserialize
    models = {
        "namespaces": "V1NamespaceList",
        "nodes": "V1NodeList",
        "pods": "V1PodList",
        "services": "V1ServiceList",
        "endpoints": "V1EndpointsList",
        "configmaps": "V1ConfigMapList",
        "events": "CoreV1EventList",
        "apps/v1/deployments": "V1DeploymentList",
        "apps/v1/replicasets": "V1ReplicaSetList",
        "apps/v1/statefulsets": "V1StatefulSetList",
        "policy/v1/poddisruptionbudgets": "V1PodDisruptionBudgetList",
        "networking.k8s.io/v1/networkpolicies": "V1NetworkPolicyList",
    }
    kube.kubectl("create", "configmap", "validate-me", "-n", kube.namespace, "--from-literal=k=v")
    kube.kubectl("delete", "configmap", "validate-me", "-n", kube.namespace)
    total = 0
    for path, model in models.items():
        url = f"/api/v1/{path}" if "/" not in path else f"/apis/{path}"
        code, _h, body = raw_get(requires_fake, url)
        assert code == 200
        assert deserialize(json.dumps(body), model, "application/json") is not None
        for item in body["items"]:
            kubernetes_validate.validate(item, "1.37", strict=True)
            total += 1
    assert total > 30
    scale = requires_fake.api.get_scale(DEPLOYMENTS, kube.namespace, "ecommerce-backend")
    assert deserialize(json.dumps(scale), "V1Scale", "application/json").spec.replicas == 3


def test_protobuf_request_bodies(kube: KubeTarget, scratch_namespace: str) -> None:
    # kubectl's typed client POSTs protobuf for `create configmap|secret|namespace`
    kube.kubectl(
        "create", "configmap", "pb", "-n", scratch_namespace, "--from-literal=a=b", "--from-literal=c=d"
    )
    assert kube.core().read_namespaced_config_map("pb", scratch_namespace).data == {"a": "b", "c": "d"}
    kube.kubectl("create", "secret", "generic", "pbs", "-n", scratch_namespace, "--from-literal=pw=x")
    secret = kube.core().read_namespaced_secret("pbs", scratch_namespace)
    assert secret.data == {"pw": "eA=="} and secret.type == "Opaque"
    if kube.api is not None:
        assert any(
            r["content_type"] == "application/vnd.kubernetes.protobuf" and r["status"] == 201
            for r in kube.api.requests
        )
        result = kube.kubectl(
            "create", "deployment", "pbd", "--image=nginx", "-n", scratch_namespace, check=False
        )
        assert result.returncode != 0 and "kubectl apply" in result.stderr


def test_kubectl_apply_rejects_unknown_fields(
    kube: KubeTarget, scratch_namespace: str, tmp_path: Any
) -> None:
    """kubectl validates with ``fieldValidation=Strict`` on the server (no OpenAPI schemas needed)."""
    good = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": scratch_namespace},
        "data": {"A": "1"},
    }
    bad = {**good, "dat": {"A": "2"}}
    (tmp_path / "good.yaml").write_text(json.dumps(good))
    (tmp_path / "bad.yaml").write_text(json.dumps(bad))
    assert "configmap/cfg created" in kube.kubectl("apply", "-f", "good.yaml", cwd=str(tmp_path)).stdout
    result = kube.kubectl("apply", "-f", "bad.yaml", cwd=str(tmp_path), check=False)
    assert result.returncode != 0 and 'unknown field "dat"' in result.stderr
    assert kube.core().read_namespaced_config_map("cfg", scratch_namespace).data == {"A": "1"}
