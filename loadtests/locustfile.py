"""Weighted e-commerce journeys against the ecommerce-backend: browse, view, add to cart, check out.

Run it the way locust users expect (web UI on http://127.0.0.1:8089):

    locust -f loadtests/locustfile.py --host http://127.0.0.1:PORT

gameday runs it headless in a subprocess (``gameday/load/runner.py``) and adds its per-second timeline
plugin with ``-f loadtests/locustfile.py,gameday/load/locust_timeline.py``. This file imports nothing of
gameday, so it can be copied to any machine that has locust.

Knobs (environment):
  GAMEDAY_LOAD_WAIT      "MIN,MAX" seconds between a user's tasks (default "0.5,2"; gameday smoke uses "0,0.05")
  GAMEDAY_LOAD_TIMEOUT   seconds before a request counts as failed (default 5)

A refused connection, a reset or a timeout is a failed request in locust's statistics, never an error of
the test: every task copes with a failed or odd answer and goes on.
"""

from __future__ import annotations

import os
import random
import uuid
from typing import Any

from locust import FastHttpUser, between, task

CATALOGUE_FALLBACK = list(range(1, 21))  # the seeded catalogue's ids, used while the catalogue can't be read


def _wait_bounds() -> tuple[float, float]:
    raw = os.environ.get("GAMEDAY_LOAD_WAIT", "0.5,2")
    try:
        low, high = (float(x) for x in raw.split(","))
    except ValueError:
        raise SystemExit(f"GAMEDAY_LOAD_WAIT={raw!r}: expected 'MIN,MAX' seconds") from None
    if not 0 <= low <= high <= 60:
        raise SystemExit(f"GAMEDAY_LOAD_WAIT={raw!r}: expected 0 <= MIN <= MAX <= 60")
    return low, high


def _timeout() -> float:
    raw = os.environ.get("GAMEDAY_LOAD_TIMEOUT", "5")
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"GAMEDAY_LOAD_TIMEOUT={raw!r}: expected seconds") from None
    return min(max(value, 0.1), 60.0)


def _json(resp: Any) -> Any:
    """The body as JSON, or None (a failed request, an HTML error page from the load balancer...)."""
    if not resp or not 200 <= (resp.status_code or 0) < 300:
        return None
    try:
        return resp.json()
    except Exception:
        return None


def _products(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        body = body.get("products", body.get("items"))
    return [p for p in body if isinstance(p, dict) and "id" in p] if isinstance(body, list) else []


class Shopper(FastHttpUser):
    """One shopper: mostly browsing, sometimes buying."""

    wait_time = between(*_wait_bounds())
    network_timeout = _timeout()
    connection_timeout = min(_timeout(), 2.0)

    def on_start(self) -> None:
        """Every shopper has a cart of their own."""
        self.cart_id = uuid.uuid4().hex[:16]
        self.product_ids = list(CATALOGUE_FALLBACK)

    def _pick(self) -> int:
        return random.choice(self.product_ids)

    @task(10)
    def browse_catalogue(self) -> None:
        """List the products (and remember their ids)."""
        products = _products(_json(self.client.get("/api/products", name="/api/products")))
        if products:
            self.product_ids = [int(p["id"]) for p in products]

    @task(6)
    def view_product(self) -> None:
        """Look at one product."""
        self.client.get(f"/api/products/{self._pick()}", name="/api/products/[id]")

    @task(3)
    def add_to_cart(self) -> None:
        """Put a product in the cart and look at the cart."""
        self.client.post(f"/api/cart/{self.cart_id}/items", json={"product_id": self._pick(), "quantity": 1},
                         name="/api/cart/[id]/items")
        self.client.get(f"/api/cart/{self.cart_id}", name="/api/cart/[id]")

    @task(1)
    def check_out(self) -> None:
        """View a product, add it, place an order for it, read the order back."""
        product_id = self._pick()
        self.client.get(f"/api/products/{product_id}", name="/api/products/[id]")
        quantity = random.randint(1, 3)
        self.client.post(f"/api/cart/{self.cart_id}/items", json={"product_id": product_id, "quantity": quantity},
                         name="/api/cart/[id]/items")
        order = _json(self.client.post(
            "/api/orders",
            json={"customer": f"shopper-{self.cart_id}", "items": [{"product_id": product_id, "quantity": quantity}]},
            name="/api/orders",
        ))
        if isinstance(order, dict) and "id" in order:
            self.client.get(f"/api/orders/{order['id']}", name="/api/orders/[id]")
        self.cart_id = uuid.uuid4().hex[:16]  # a new cart after checking out
