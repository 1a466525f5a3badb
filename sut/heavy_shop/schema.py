"""``migrate``: the schema and the seed catalogue, created once before the replicas start (idempotent)."""

from __future__ import annotations

from . import SCHEMA_VERSION
from .db import Database

PRODUCTS = 600
CATEGORIES = ("kitchen", "garden", "books", "toys", "audio", "outdoor", "office", "bath", "lighting", "tools")
ADJECTIVES = ("sturdy", "compact", "classic", "deluxe", "handmade", "recycled", "vintage", "modern", "portable")
NOUNS = ("kettle", "lamp", "chair", "notebook", "speaker", "planter", "backpack", "clock", "mug", "blanket")

STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS products (
           id serial PRIMARY KEY, slug text UNIQUE NOT NULL, name text NOT NULL, category text NOT NULL,
           price_cents integer NOT NULL, stock integer NOT NULL, description text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS users (
           id serial PRIMARY KEY, username text UNIQUE NOT NULL, password_hash text NOT NULL,
           created_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS orders (
           id serial PRIMARY KEY, user_id integer NOT NULL REFERENCES users(id), total_cents integer NOT NULL,
           lines jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), confirmed_at timestamptz)""",
    """CREATE TABLE IF NOT EXISTS emails (
           id serial PRIMARY KEY, order_id integer UNIQUE NOT NULL REFERENCES orders(id), recipient text NOT NULL,
           subject text NOT NULL, body text NOT NULL, sent_by text NOT NULL,
           sent_at timestamptz NOT NULL DEFAULT now())""",
)


def migrate(db: Database) -> str:
    """Create what is missing and seed the catalogue; a one-line summary."""
    for statement in STATEMENTS:
        db.execute(statement)
    if not db.fetchval("SELECT count(*) FROM products"):
        rows = []
        for i in range(PRODUCTS):
            name = f"{ADJECTIVES[i % len(ADJECTIVES)].title()} {NOUNS[(i // 7) % len(NOUNS)]} {i + 1}"
            rows.append((f"p-{i + 1:04d}", name, CATEGORIES[i % len(CATEGORIES)], 499 + (i * 37) % 9000,
                         (i * 13) % 50, f"The {name.lower()}: " + "a fine thing for every home. " * (1 + i % 4)))
        db.call("executemany", "INSERT INTO products (slug, name, category, price_cents, stock, description) "
                "VALUES ($1, $2, $3, $4, $5, $6)", rows)
    db.execute("DELETE FROM schema_version")
    db.execute("INSERT INTO schema_version (version) VALUES ($1)", SCHEMA_VERSION)
    return f"schema version {SCHEMA_VERSION}, {db.fetchval('SELECT count(*) FROM products')} products"
