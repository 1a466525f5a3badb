"""The reference service behind the real load balancer, against real PostgreSQL, Redis and Kafka broker."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.helpers import status_of, wait_for

pytestmark = pytest.mark.slow


def test_every_endpoint_answers_through_the_load_balancer(healthy):
    base = healthy.base_url()
    with httpx.Client(base_url=base, timeout=5) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert set(ready.json()["dependencies"]) == {"postgres", "redis", "kafka"}
        products = http.get("/api/products").json()
        assert len(products) >= 10
        first = products[0]
        assert http.get(f"/api/products/{first['id']}").json()["name"] == first["name"]
        assert http.get("/api/products/999999").status_code == 404
        cart = f"cart-{uuid.uuid4().hex[:8]}"
        added = http.post(f"/api/cart/{cart}/items", json={"product_id": first["id"], "quantity": 2})
        assert added.status_code in (200, 201)
        assert any(i["product_id"] == first["id"] for i in http.get(f"/api/cart/{cart}").json()["items"])
        items = [{"product_id": first["id"], "quantity": 1}]
        order = http.post("/api/orders", json={"customer": "test", "items": items})
        assert order.status_code == 201
        assert http.get(f"/api/orders/{order.json()['id']}").json()["id"] == order.json()["id"]
        assert http.delete(f"/api/cart/{cart}").status_code in (200, 204)
        metrics = http.get("/metrics").text
        assert "http_requests_total" in metrics and "dependency_up" in metrics


def _replica_readiness(target, dependency: str) -> set[str]:
    states = set()
    for name in target.replica_names:
        body = httpx.get(f"http://127.0.0.1:{target.port(name)}/readyz", timeout=2).json()
        states.add(body["dependencies"][dependency]["state"])
    return states


@pytest.mark.parametrize("dependency", ["redis", "kafka"])
def test_redis_or_kafka_down_degrades_but_stays_ready(healthy, dependency):
    healthy.stop_dependency(dependency)
    wait_for(lambda: _replica_readiness(healthy, dependency) == {"down"}, 15, what=f"{dependency} reported down")
    body = httpx.get(healthy.base_url() + "/readyz", timeout=2)
    assert body.status_code == 200 and body.json()["status"] == "degraded"
    assert status_of(healthy.base_url() + "/api/products") == 200
    healthy.start_dependency(dependency)
    wait_for(lambda: _replica_readiness(healthy, dependency) == {"up"}, 20, what=f"{dependency} reported up again")


def test_postgres_blip_is_absorbed_then_a_sustained_outage_makes_replicas_not_ready(healthy):
    base = healthy.base_url()
    assert status_of(base + "/api/products") == 200  # warms the Redis cache
    healthy.stop_dependency("postgres")
    wait_for(lambda: _replica_readiness(healthy, "postgres") == {"down"}, 10, what="postgres reported down")
    # within the grace period the catalogue is still served, from the cache
    response = httpx.get(base + "/api/products", timeout=3)
    assert response.status_code == 200 and response.headers.get("x-served-from") == "cache"
    # past the grace period the replicas turn not ready and the load balancer answers 503
    wait_for(lambda: status_of(base + "/api/products") == 503, 15, what="503 from the load balancer")
    logs = "\n".join(healthy.logs(tail=200))
    assert "Connection refused" in logs and "service unavailable" in logs
    healthy.start_dependency("postgres")
    wait_for(lambda: status_of(base + "/api/products") == 200, 20, what="service back after postgres returns")


def test_orders_accepted_while_kafka_is_down_are_delivered_when_it_returns(healthy):
    base = healthy.base_url()
    product = httpx.get(base + "/api/products", timeout=3).json()[0]["id"]
    healthy.stop_dependency("kafka")
    wait_for(lambda: _replica_readiness(healthy, "kafka") == {"down"}, 10, what="kafka reported down")
    ids = []
    for i in range(3):
        body = {"customer": f"c{i}", "items": [{"product_id": product, "quantity": 1}]}
        r = httpx.post(base + "/api/orders", json=body, timeout=5)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    assert not httpx.get(f"{base}/api/orders/{ids[0]}", timeout=3).json()["event_published"]
    healthy.start_dependency("kafka")  # a new, empty broker: the events must come from the outbox
    wait_for(lambda: all(httpx.get(f"{base}/api/orders/{i}", timeout=3).json()["event_published"] for i in ids),
             30, interval=0.3, what="outbox events published")
    consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{healthy.port('kafka')}", consumer_timeout_ms=3000,
                             auto_offset_reset="earliest", enable_auto_commit=False, request_timeout_ms=5000)
    try:
        partitions = wait_for(lambda: consumer.partitions_for_topic("order-created"), 10, what="topic metadata")
        consumer.assign([TopicPartition("order-created", p) for p in partitions])
        consumer.seek_to_beginning()
        seen = {json.loads(m.value)["order_id"] for m in consumer}
    finally:
        consumer.close()
    assert set(ids) <= seen


def test_a_ready_replica_out_of_the_load_balancers_rotation_is_not_healthy(healthy):
    """Healthy means in rotation too: HAProxy's view, not only the replica's own readiness."""
    name = healthy.replica_names[1]
    healthy.lb_runtime.set_state(name, "maint")
    try:
        assert all(r.ready for r in healthy.replicas())
        assert not healthy.wait_healthy(timeout=1.0)
    finally:
        healthy.lb_runtime.set_state(name, "ready")
    assert healthy.wait_healthy(timeout=10)


def test_killing_every_replica_gives_503_and_supervisor_brings_them_back(healthy):
    base = healthy.base_url()
    healthy.terminate_replicas()
    wait_for(lambda: status_of(base + "/api/products") == 503, 5, interval=0.05, what="503 after every replica died")
    wait_for(lambda: all(r.ready for r in healthy.replicas()), 30, interval=0.2, what="replicas restarted")
    assert all(r.restarts >= 1 for r in healthy.replicas())
    wait_for(lambda: status_of(base + "/api/products") == 200, 10, what="200 again")


def test_bad_release_crash_loops_and_rollout_undo_restores_service(healthy):
    base = healthy.base_url()
    good = healthy.current_revision()
    healthy.deploy(healthy.bad_release(), wait=True)
    # the bad release dies under traffic; keep sending some until every replica is in a crash loop
    def crash_looping() -> bool:
        status_of(base + "/api/products", timeout=1)
        return all(r.phase == "CrashLoopBackOff" for r in healthy.replicas())

    wait_for(crash_looping, 60, interval=0.2, what="every replica in CrashLoopBackOff")
    # a replica restarted by its back-off may take one request and die on it (502) until HAProxy marks it down:
    # the load balancer ends up with no server to send to
    wait_for(lambda: status_of(base + "/api/products") == 503, 20, interval=0.2, what="503: no server left")
    healthy.rollout_undo(wait=True)
    assert healthy.current_revision().version == good.version
    wait_for(lambda: status_of(base + "/api/products") == 200, 20, what="service restored by rollout undo")


def test_a_hanging_replica_yields_504(healthy):
    base = healthy.base_url()
    healthy.freeze_replicas()
    # requests already routed to a frozen replica wait for HAProxy's server timeout: 504
    statuses = [status_of(base + "/api/products", timeout=5) for _ in range(2)]
    assert 504 in statuses
    wait_for(lambda: status_of(base + "/api/products", timeout=5) == 503, 10, what="503 once marked down")
    healthy.thaw_replicas()
    wait_for(lambda: status_of(base + "/api/products") == 200, 15, what="service back after thaw")


def test_status_json_lists_every_component(stack):
    import subprocess
    import sys

    env = {"GAMEDAY_STATE_DIR": str(stack.state.root), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "gameday.cli", "status", "--json"], capture_output=True, text=True,
                         env=env, timeout=30, check=True).stdout
    data = json.loads(out)
    assert data["base_url"].startswith("http://127.0.0.1:")
    kinds = {c["kind"] for c in data["components"]}
    assert {"replica", "load-balancer", "postgres", "redis", "kafka"} <= kinds
    for c in data["components"]:
        assert c["name"] and c["port"] and c["state"]
        assert c["pid"] is None or c["pid"] > 0
