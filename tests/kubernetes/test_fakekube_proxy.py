"""The fake API server's service and pod proxies, and the simulated applications behind them.

gameday's Kubernetes canary sends load through ``services/NAME:PORT/proxy/...`` and reads each pod's
Prometheus metrics through ``pods/NAME:PORT/proxy/metrics``; these tests pin what it relies on:
round-robin over ready endpoints, the ``-bad``/``-slow`` releases, per-incarnation counters, the real
server's errors, and that the official Python client, kubectl and plain httpx reach the same answers.
Every test gets a private fake (``fresh_fake``): they count requests and break the scenario.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from tests.fakekube import Answer, FakeKube, pod_is_ready
from tests.fakekube.apps import SLOW_DELAY_S
from tests.fakekube.seed import BACKEND, backend_deployment

from .conftest import KubeTarget, wait_for

pytestmark = pytest.mark.kubernetes

NS = "production"
SERVICE_PATH = f"/api/v1/namespaces/{NS}/services/{BACKEND}:80/proxy"


@pytest.fixture
def fake(fresh_fake: KubeTarget) -> FakeKube:
    assert fresh_fake.api is not None
    return fresh_fake.api


@pytest.fixture
def http(fake: FakeKube) -> Iterator[httpx.Client]:
    """A plain HTTP client on the API server, as gameday's load generator uses (``gameday.calls``)."""
    with httpx.Client(base_url=fake.url, trust_env=False, timeout=10) as h:
        yield h


def pod_path(pod: str, port: int | None = 8000) -> str:
    target = f"{pod}:{port}" if port is not None else pod
    return f"/api/v1/namespaces/{NS}/pods/{target}/proxy"


def backend_pods(fake: FakeKube, selector: str = f"app={BACKEND}") -> list[str]:
    """Names of the non-terminating pods matching ``selector``."""
    return [
        p["metadata"]["name"]
        for p in fake.list("pods", NS, selector)
        if "deletionTimestamp" not in p["metadata"]
    ]


def metrics(http: httpx.Client, pod: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A pod's metrics, read through the pod proxy: ``(sample name, labels) -> value``."""
    resp = http.get(f"{pod_path(pod)}/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def requests_total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], **labels: str) -> float:
    """``http_requests_total`` summed over the series matching ``labels``."""
    return sum(
        value
        for (name, lbls), value in samples.items()
        if name == "http_requests_total" and set(labels.items()) <= lbls
    )


def bucket(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], le: str, route: str, status: str = "200"
) -> float:
    key = frozenset({("le", le), ("route", route), ("status", status)})
    return samples.get(("http_request_duration_seconds_bucket", key), 0.0)


def set_backend_image(fake: FakeKube, image: str) -> list[str]:
    """Roll the backend Deployment to ``image``; returns its 3 ready pods once they all run it."""
    d = fake.get("deployments", BACKEND, NS)
    assert d is not None
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    fake.apply(d)

    def rolled() -> list[str] | None:
        pods = [p for p in fake.list("pods", NS, f"app={BACKEND}") if "deletionTimestamp" not in p["metadata"]]
        rolled_out = len(pods) == 3 and all(p["spec"]["containers"][0]["image"] == image for p in pods)
        if rolled_out and fake.pods_ready(NS, f"app={BACKEND}", 3):
            return [p["metadata"]["name"] for p in pods]
        return None

    return wait_for(rolled, 15, message=f"backend rolled out to {image}")


# -- service proxy -------------------------------------------------------------------------------------
def test_service_proxy_round_robins_over_the_ready_pods(fake: FakeKube, http: httpx.Client) -> None:
    pods = backend_pods(fake)
    assert len(pods) == 3
    answers = [http.get(f"{SERVICE_PATH}/api/products") for _ in range(30)]
    assert {(r.status_code, r.text, r.headers["content-type"]) for r in answers} == {(200, "[]", "application/json")}
    post = http.post(f"{SERVICE_PATH}/api/orders", json={"product_id": 1, "quantity": 2})
    assert (post.status_code, post.json()) == (200, {})

    per_pod = {p: metrics(http, p) for p in pods}
    gets = {p: requests_total(m, method="GET", route="/api/products", status="200") for p, m in per_pod.items()}
    assert sum(gets.values()) == 30
    assert sorted(gets.values()) == [10, 10, 10], gets  # round-robin, not "all to one pod"
    assert sum(requests_total(m, method="POST", route="/api/orders", status="200") for m in per_pod.values()) == 1
    # the scrapes themselves are not counted
    assert all(requests_total(m, route="/metrics") == 0 for m in per_pod.values())


def test_the_application_sees_query_string_and_body_and_rules_override_it(
    fake: FakeKube, http: httpx.Client
) -> None:
    seen: list[tuple[str, str, bytes]] = []

    def checkout_down(pod: dict[str, Any], method: str, path: str, body: bytes) -> Answer | None:
        seen.append((method, path, body))
        if path.startswith("/api/checkout"):
            return Answer.json({"error": "payment provider down"}, status=502)
        return None

    remove = fake.apps.add_rule(checkout_down)
    resp = http.post(f"{SERVICE_PATH}/api/checkout?cart=7&q=a%20b", json={"card": "4242"})
    assert (resp.status_code, resp.json()) == (502, {"error": "payment provider down"})
    assert seen[-1] == ("POST", "/api/checkout?cart=7&q=a%20b", b'{"card":"4242"}')
    assert http.get(f"{SERVICE_PATH}/api/products?page=2").status_code == 200
    assert seen[-1][1] == "/api/products?page=2"

    remove()
    assert http.post(f"{SERVICE_PATH}/api/checkout", json={}).status_code == 200
    total = sum(
        requests_total(metrics(http, p), method="POST", route="/api/checkout", status="502") for p in backend_pods(fake)
    )
    assert total == 1  # labelled by path without query string, numeric status


def test_bad_canary_answers_500_on_its_share_of_the_traffic(fake: FakeKube, http: httpx.Client) -> None:
    canary = backend_deployment(NS, replicas=1, image="ecommerce-backend:1.4.3-bad")
    canary["metadata"]["name"] = f"{BACKEND}-canary"
    canary["spec"]["selector"]["matchLabels"]["track"] = "canary"
    canary["spec"]["template"]["metadata"]["labels"]["track"] = "canary"
    fake.apply(canary)
    wait_for(lambda: fake.pods_ready(NS, f"app={BACKEND}", 4), 15, message="canary pod ready beside the stable ones")
    (canary_pod,) = backend_pods(fake, f"app={BACKEND},track=canary")

    answers = [http.get(f"{SERVICE_PATH}/api/products") for _ in range(40)]
    failed = [r for r in answers if r.status_code == 500]
    assert len(failed) == 10  # one pod in four
    assert "error" in failed[0].json()
    assert len([r for r in answers if r.status_code == 200]) == 30

    samples = metrics(http, canary_pod)
    assert requests_total(samples, route="/api/products", status="500") == 10
    assert requests_total(samples, route="/api/products", status="200") == 0
    # it passes its probes: that is what makes it a canary problem rather than a failed rollout
    for probe in ("healthz", "readyz"):
        resp = http.get(f"{pod_path(canary_pod)}/{probe}")
        assert (resp.status_code, resp.text) == (200, "ok")


def test_slow_release_is_slower_in_the_histogram_and_is_not_serialized(
    fake: FakeKube, http: httpx.Client
) -> None:
    pods = set_backend_image(fake, "ecommerce-backend:1.4.3-slow")
    n = 30
    with httpx.Client(base_url=fake.url, trust_env=False, timeout=10) as h, ThreadPoolExecutor(n) as pool:
        started = time.monotonic()
        statuses = list(pool.map(lambda _i: h.get(f"{SERVICE_PATH}/api/products").status_code, range(n)))
        elapsed = time.monotonic() - started
    assert statuses == [200] * n
    # about 0.2 s when concurrent. One at a time would take n * 0.15 s = 4.5 s, one at a time per pod
    # 1.5 s, and connections beyond a too-short listen backlog are retried by the kernel after 1 s
    assert elapsed < 1.0, f"{n} concurrent requests to a {SLOW_DELAY_S}s-slow release took {elapsed:.2f}s"

    per_pod = [metrics(http, p) for p in pods]
    assert sum(requests_total(m, route="/api/products") for m in per_pod) == n
    assert sum(bucket(m, "0.1", "/api/products") for m in per_pod) == 0
    # each recorded as the delay, not a queue: within the second the whole burst took (the 0.25 s bucket held only
    # 24 of 30 on a clean-clone CI run with the other worker busy: 30 threads of one process share a GIL)
    assert sum(bucket(m, "1.0", "/api/products") for m in per_pod) == n


# -- per-incarnation counters --------------------------------------------------------------------------
def test_counters_reset_when_the_container_restarts(fresh_fake: KubeTarget, fake: FakeKube, http: httpx.Client) -> None:
    pod = backend_pods(fake)[0]
    uid = (fake.get("pods", pod, NS) or {})["metadata"]["uid"]
    for _ in range(5):
        assert http.get(f"{pod_path(pod)}/api/products").status_code == 200
    assert requests_total(metrics(http, pod), route="/api/products") == 5

    core = fresh_fake.core()
    patch = {"spec": {"containers": [{"name": BACKEND, "image": "ecommerce-backend:1.4.2-broken"}]}}
    core.patch_namespaced_pod(pod, NS, patch)

    def refused() -> dict[str, Any] | None:
        resp = http.get(f"{pod_path(pod)}/metrics")
        return resp.json() if resp.status_code == 503 else None

    down = wait_for(refused, 10, message="the crashed container to refuse connections")
    assert down["message"].startswith("error trying to reach service: dial tcp ")
    assert down["message"].endswith(":8000: connect: connection refused")
    patch["spec"]["containers"][0]["image"] = "ecommerce-backend:1.4.2"
    core.patch_namespaced_pod(pod, NS, patch)
    wait_for(lambda: http.get(f"{pod_path(pod)}/metrics").status_code == 200, 10, message="container running again")

    after = fake.get("pods", pod, NS) or {}
    assert after["metadata"]["uid"] == uid
    assert after["status"]["containerStatuses"][0]["restartCount"] > 0
    assert requests_total(metrics(http, pod), route="/api/products") == 0


def test_counters_start_empty_in_a_replacement_pod(fresh_fake: KubeTarget, fake: FakeKube, http: httpx.Client) -> None:
    old = backend_pods(fake)
    for _ in range(6):
        assert http.get(f"{SERVICE_PATH}/api/products").status_code == 200
    victim = old[0]
    assert requests_total(metrics(http, victim), route="/api/products") == 2

    fresh_fake.core().delete_namespaced_pod(victim, NS, grace_period_seconds=0)
    wait_for(
        lambda: fake.pods_ready(NS, f"app={BACKEND}", 3) and victim not in backend_pods(fake), 10, message="replacement"
    )
    (new,) = set(backend_pods(fake)) - set(old)
    assert requests_total(metrics(http, new), route="/api/products") == 0
    assert http.get(f"{pod_path(victim)}/metrics").status_code == 404


# -- errors --------------------------------------------------------------------------------------------
def test_no_endpoints_is_a_503_with_the_real_servers_message(
    fresh_fake: KubeTarget, fake: FakeKube, http: httpx.Client
) -> None:
    apps = fresh_fake.apps()
    # ready pods exist but postgres is gone: the backend pods run, not ready (notReadyAddresses only)
    apps.patch_namespaced_stateful_set_scale("postgres", NS, {"spec": {"replicas": 0}})
    wait_for(
        lambda: not any(pod_is_ready(p) for p in fake.list("pods", NS, f"app={BACKEND}")), 10, message="not ready"
    )
    wait_for(lambda: http.get(f"{SERVICE_PATH}/api/products").status_code == 503, 10, message="service proxy 503")
    resp = http.get(f"{SERVICE_PATH}/api/products")
    # the real server quotes the whole id when the Endpoints have subsets but no ready address
    assert resp.json()["message"] == f'no endpoints available for service "{BACKEND}:80"'
    assert (resp.json()["kind"], resp.json()["reason"], resp.json()["code"]) == ("Status", "ServiceUnavailable", 503)
    # the pods themselves still answer (through the pod proxy), and their readiness endpoint says why
    pod = backend_pods(fake)[0]
    assert http.get(f"{pod_path(pod)}/api/products").status_code == 200
    assert http.get(f"{pod_path(pod)}/readyz").status_code == 503

    # no pods at all: no subsets, and the message quotes the Service name
    apps.patch_namespaced_deployment_scale(BACKEND, NS, {"spec": {"replicas": 0}})
    wait_for(lambda: not backend_pods(fake), 10, message="backend pods gone")
    resp = http.get(f"{SERVICE_PATH}/api/products")
    assert resp.status_code == 503
    assert resp.json()["message"] == f'no endpoints available for service "{BACKEND}"'


def test_missing_pod_or_service_is_a_404_status(fake: FakeKube, http: httpx.Client) -> None:
    resp = http.get(f"{pod_path('no-such-pod')}/metrics")
    assert resp.status_code == 404
    assert (resp.json()["reason"], resp.json()["message"]) == ("NotFound", 'pods "no-such-pod" not found')
    resp = http.post(f"/api/v1/namespaces/{NS}/services/no-such-service:80/proxy/api/orders", json={})
    assert resp.status_code == 404
    assert (resp.json()["reason"], resp.json()["message"]) == ("NotFound", 'services "no-such-service" not found')
    # a port the Service does not have, and an unnamed-port request to a Service whose port is named
    resp = http.get(f"/api/v1/namespaces/{NS}/services/{BACKEND}:8080/proxy/")
    assert (resp.status_code, resp.json()["message"]) == (503, f'no service port 8080 found for service "{BACKEND}"')
    resp = http.get(f"/api/v1/namespaces/{NS}/services/{BACKEND}/proxy/api/products")
    assert (resp.status_code, resp.json()["message"]) == (503, f'no endpoints available for service "{BACKEND}"')
    assert http.get(f"/api/v1/namespaces/{NS}/services/{BACKEND}:http/proxy/api/products").status_code == 200


def test_pod_proxy_refuses_when_nothing_listens(fake: FakeKube, http: httpx.Client) -> None:
    fake.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "crasher", "namespace": NS},
            "spec": {"containers": [{"name": "app", "image": "app:1-broken", "ports": [{"containerPort": 8000}]}]},
        }
    )
    wait_for(
        lambda: any(
            (cs.get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
            for cs in (fake.get("pods", "crasher", NS) or {}).get("status", {}).get("containerStatuses") or []
        ),
        10,
        message="crash loop",
    )
    resp = http.get(f"{pod_path('crasher')}/metrics")
    assert resp.status_code == 503
    assert resp.json()["reason"] == "ServiceUnavailable"
    assert resp.json()["message"].startswith("error trying to reach service: dial tcp 10.244.")
    assert resp.json()["message"].endswith(":8000: connect: connection refused")
    # a running pod, on a port it does not declare
    resp = http.get(f"{pod_path(backend_pods(fake)[0], 9090)}/metrics")
    assert resp.status_code == 503 and ":9090: connect: connection refused" in resp.json()["message"]
    # without a port: the first declared container port, like the real server
    assert http.get(f"{pod_path(backend_pods(fake)[0], None)}/healthz").text == "ok"
    # an empty subpath is redirected to ".../proxy/"
    resp = http.get(pod_path(backend_pods(fake)[0]))
    assert resp.status_code == 301 and resp.headers["location"].endswith("/proxy/")


# -- clients -------------------------------------------------------------------------------------------
def test_official_python_client_connect_methods(fresh_fake: KubeTarget, fake: FakeKube) -> None:
    core = fresh_fake.core()
    pod = backend_pods(fake)[0]
    got = core.connect_get_namespaced_service_proxy_with_path(name=f"{BACKEND}:80", namespace=NS, path="api/products")
    assert got == "[]"
    posted = core.connect_post_namespaced_service_proxy_with_path(name=f"{BACKEND}:80", namespace=NS, path="api/orders")
    assert json.loads(posted) == {}
    text = core.connect_get_namespaced_pod_proxy_with_path(name=f"{pod}:8000", namespace=NS, path="metrics")
    assert "# TYPE http_requests_total counter" in text
    assert "# TYPE http_request_duration_seconds histogram" in text
    # the client percent-encodes ':' and '/' in path parameters; the server decodes before splitting
    # (the server records a request after answering it, so the last record may lag the answer a little)
    encoded = (
        f"/api/v1/namespaces/{NS}/services/{BACKEND}%3A80/proxy/api%2Fproducts",
        f"/api/v1/namespaces/{NS}/pods/{pod}%3A8000/proxy/metrics",
    )
    wait_for(lambda: set(encoded) <= {r["path"] for r in fake.requests}, 5, message="the encoded request paths")
    # connect_get_namespaced_pod_proxy (no subpath) sends ?path=...; it is the subpath then
    assert core.connect_get_namespaced_pod_proxy(name=f"{pod}:8000", namespace=NS, path="/healthz") == "ok"
    with pytest.raises(client.ApiException) as err:
        core.connect_get_namespaced_pod_proxy_with_path(name="no-such-pod:8000", namespace=NS, path="metrics")
    assert err.value.status == 404


def test_kubectl_get_raw_reads_pod_metrics(fresh_fake: KubeTarget, fake: FakeKube, http: httpx.Client) -> None:
    pod = backend_pods(fake)[0]
    assert http.get(f"{pod_path(pod)}/api/products").status_code == 200
    out = fresh_fake.kubectl("get", "--raw", f"/api/v1/namespaces/{NS}/pods/{pod}:8000/proxy/metrics").stdout
    assert 'http_requests_total{method="GET",route="/api/products",status="200"} 1.0' in out
