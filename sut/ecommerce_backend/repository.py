"""SQL for the catalogue, orders and the outbox (functions of an asyncpg connection)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

PRODUCT_COLUMNS = "id, sku, name, category, price"
# Serialises the order-writing tail of concurrent transactions (all replicas) so that outbox ids
# become visible in increasing order: the relay can then never publish id N+1 before id N commits.
OUTBOX_ORDER_LOCK_KEY = 0x6F726472  # "ordr"


class UnknownProducts(Exception):
    """An order names products that do not exist."""

    def __init__(self, product_ids: list[int]) -> None:
        super().__init__(f"unknown product ids: {product_ids}")
        self.product_ids = product_ids


@dataclass(frozen=True)
class OutboxRow:
    """One pending event of the outbox."""

    id: int
    topic: str
    key: str
    payload: str


def product_to_dict(row: asyncpg.Record) -> dict[str, Any]:
    """A product row as the JSON object served by the API."""
    return {"id": row["id"], "sku": row["sku"], "name": row["name"], "category": row["category"],
            "price": float(row["price"])}


async def list_products(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """The whole catalogue ordered by id."""
    rows = await conn.fetch(f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id")
    return [product_to_dict(row) for row in rows]


async def get_product(conn: asyncpg.Connection, product_id: int) -> dict[str, Any] | None:
    """One product, or None when unknown."""
    row = await conn.fetchrow(f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1", product_id)
    return None if row is None else product_to_dict(row)


async def create_order(conn: asyncpg.Connection, customer: str, items: dict[int, int],
                       topic: str) -> dict[str, Any]:
    """Insert the order, its items and the outbox row of its ``order-created`` event in ONE transaction.

    ``items`` maps product id to quantity. Returns ``{"id", "total", "created_at"}``.
    Raises UnknownProducts if any product id is unknown (nothing is written then).
    """
    product_ids = sorted(items)
    async with conn.transaction():
        rows = await conn.fetch("SELECT id, price FROM products WHERE id = ANY($1::int[])", product_ids)
        prices: dict[int, Decimal] = {row["id"]: row["price"] for row in rows}
        missing = [pid for pid in product_ids if pid not in prices]
        if missing:
            raise UnknownProducts(missing)
        total = sum((prices[pid] * items[pid] for pid in product_ids), Decimal("0")).quantize(Decimal("0.01"))
        await conn.execute("SELECT pg_advisory_xact_lock($1)", OUTBOX_ORDER_LOCK_KEY)
        order = await conn.fetchrow(
            "INSERT INTO orders (customer, total) VALUES ($1, $2) RETURNING id, created_at", customer, total)
        order_id: int = order["id"]
        await conn.execute(
            "INSERT INTO order_items (order_id, product_id, quantity, unit_price)"
            " SELECT $1, p, q, u FROM unnest($2::int[], $3::int[], $4::numeric[]) AS t(p, q, u)",
            order_id, product_ids, [items[pid] for pid in product_ids], [prices[pid] for pid in product_ids])
        created_at = order["created_at"].isoformat().replace("+00:00", "Z")
        event = {
            "event": "order-created",
            "order_id": order_id,
            "customer": customer,
            "total": float(total),
            "items": [{"product_id": pid, "quantity": items[pid], "unit_price": float(prices[pid])}
                      for pid in product_ids],
            "created_at": created_at,
        }
        await conn.execute(
            "INSERT INTO outbox (aggregate_id, topic, event_key, payload) VALUES ($1, $2, $3, $4::json)",
            order_id, topic, str(order_id), json.dumps(event))
    return {"id": order_id, "total": float(total), "created_at": created_at}


async def get_order(conn: asyncpg.Connection, order_id: int) -> dict[str, Any] | None:
    """One order with its items and whether its event was published, or None when unknown."""
    order = await conn.fetchrow(
        "SELECT o.id, o.customer, o.total, o.status, o.created_at,"
        " COALESCE((SELECT bool_and(sent_at IS NOT NULL) FROM outbox WHERE aggregate_id = o.id), false)"
        " AS event_published FROM orders o WHERE o.id = $1", order_id)
    if order is None:
        return None
    items = await conn.fetch(
        "SELECT product_id, quantity, unit_price FROM order_items WHERE order_id = $1 ORDER BY product_id",
        order_id)
    return {
        "id": order["id"],
        "customer": order["customer"],
        "status": order["status"],
        "total": float(order["total"]),
        "created_at": order["created_at"].isoformat().replace("+00:00", "Z"),
        "items": [
            {"product_id": r["product_id"], "quantity": r["quantity"], "unit_price": float(r["unit_price"])}
            for r in items
        ],
        "event_published": bool(order["event_published"]),
    }


async def try_lock_outbox(conn: asyncpg.Connection, lock_key: int) -> bool:
    """Take the transaction-scoped relay lock if no other replica holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock_key))


async def pending_outbox(conn: asyncpg.Connection, limit: int) -> list[OutboxRow]:
    """The oldest unsent events, in outbox id order."""
    rows = await conn.fetch(
        "SELECT id, topic, event_key, payload::text AS payload FROM outbox WHERE sent_at IS NULL"
        " ORDER BY id LIMIT $1", limit)
    return [OutboxRow(id=r["id"], topic=r["topic"], key=r["event_key"], payload=r["payload"]) for r in rows]


async def mark_sent(conn: asyncpg.Connection, outbox_ids: list[int]) -> None:
    """Mark these outbox rows as published."""
    await conn.execute("UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", outbox_ids)


async def count_pending(conn: asyncpg.Connection) -> int:
    """How many events wait in the outbox."""
    return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))
