"""Database schema and seed catalogue, applied idempotently under an advisory lock.

Several replicas start at once against one database: the DDL and the seed run in one transaction
that first takes ``pg_advisory_xact_lock``, and the seed uses ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg

# Any constant shared by all replicas; "ecom" in ASCII.
SCHEMA_LOCK_KEY = 0x65636F6D

DDL = """
CREATE TABLE IF NOT EXISTS products (
    id          INTEGER PRIMARY KEY,
    sku         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    category    TEXT NOT NULL,
    price       NUMERIC(10, 2) NOT NULL CHECK (price >= 0)
);
CREATE TABLE IF NOT EXISTS orders (
    id          BIGSERIAL PRIMARY KEY,
    customer    TEXT NOT NULL,
    total       NUMERIC(12, 2) NOT NULL,
    status      TEXT NOT NULL DEFAULT 'accepted',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS order_items (
    order_id    BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id  INTEGER NOT NULL REFERENCES products (id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    unit_price  NUMERIC(10, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    id            BIGSERIAL PRIMARY KEY,
    aggregate_id  BIGINT NOT NULL,
    topic         TEXT NOT NULL,
    event_key     TEXT NOT NULL,
    payload       JSON NOT NULL,  -- JSON (not JSONB) keeps the event text byte for byte
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at       TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS outbox_pending_idx ON outbox (id) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_aggregate_idx ON outbox (aggregate_id);
"""

SEED_PRODUCTS: tuple[tuple[int, str, str, str, Decimal], ...] = (
    (1, "SKU-0001", "Wireless Mouse", "accessories", Decimal("24.99")),
    (2, "SKU-0002", "Mechanical Keyboard", "accessories", Decimal("89.00")),
    (3, "SKU-0003", "27-inch 4K Monitor", "displays", Decimal("329.00")),
    (4, "SKU-0004", "USB-C Hub 7-in-1", "accessories", Decimal("39.50")),
    (5, "SKU-0005", "Noise-Cancelling Headphones", "audio", Decimal("199.99")),
    (6, "SKU-0006", "Bluetooth Speaker", "audio", Decimal("59.90")),
    (7, "SKU-0007", "1080p Webcam", "accessories", Decimal("49.00")),
    (8, "SKU-0008", "Laptop Stand", "furniture", Decimal("34.95")),
    (9, "SKU-0009", "Ergonomic Office Chair", "furniture", Decimal("249.00")),
    (10, "SKU-0010", "Standing Desk Frame", "furniture", Decimal("399.00")),
    (11, "SKU-0011", "1 TB NVMe SSD", "storage", Decimal("79.99")),
    (12, "SKU-0012", "4 TB External HDD", "storage", Decimal("109.00")),
    (13, "SKU-0013", "64 GB USB Flash Drive", "storage", Decimal("12.49")),
    (14, "SKU-0014", "Wi-Fi 6 Router", "networking", Decimal("149.00")),
    (15, "SKU-0015", "8-Port Gigabit Switch", "networking", Decimal("29.99")),
    (16, "SKU-0016", "Cat6 Cable 5 m", "networking", Decimal("8.99")),
    (17, "SKU-0017", "Smartphone Charger 65 W", "power", Decimal("35.00")),
    (18, "SKU-0018", "Power Bank 20000 mAh", "power", Decimal("45.00")),
    (19, "SKU-0019", "Surge Protector", "power", Decimal("22.00")),
    (20, "SKU-0020", "Graphics Tablet", "accessories", Decimal("69.00")),
)


async def bootstrap_schema(conn: asyncpg.Connection) -> int:
    """Create missing tables and seed the catalogue; returns how many products were inserted."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_KEY)
        await conn.execute(DDL)
        before = await conn.fetchval("SELECT count(*) FROM products")
        await conn.executemany(
            "INSERT INTO products (id, sku, name, category, price) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT DO NOTHING",
            SEED_PRODUCTS,
        )
        after = await conn.fetchval("SELECT count(*) FROM products")
    return int(after - before)
