"""The database schema and the seed events, applied by ``python -m sut.ticket_office migrate``.

Unlike ecommerce-backend, replicas never create tables themselves: a separate setup command runs once
before they start, like a deployment's migration job. It is idempotent (``IF NOT EXISTS``, seed with
``ON CONFLICT DO NOTHING``) and takes an advisory lock, so running it twice, or twice at once, is safe.
"""

from __future__ import annotations

import asyncpg

# Any constant; "tkt1" in ASCII.
MIGRATION_LOCK_KEY = 0x746B7431

DDL = """
CREATE TABLE IF NOT EXISTS events (
    event_id    TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    venue       TEXT NOT NULL,
    starts_at   TIMESTAMPTZ NOT NULL,
    capacity    INTEGER NOT NULL CHECK (capacity >= 0),
    seats_left  INTEGER NOT NULL CHECK (seats_left >= 0)
);
CREATE TABLE IF NOT EXISTS holds (
    hold_id     TEXT PRIMARY KEY,
    event_id    TEXT NOT NULL REFERENCES events (event_id),
    holder      TEXT NOT NULL,
    seats       INTEGER NOT NULL CHECK (seats > 0),
    status      TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'purchased')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS tickets (
    ticket_id   TEXT PRIMARY KEY,
    hold_id     TEXT NOT NULL UNIQUE REFERENCES holds (hold_id),
    event_id    TEXT NOT NULL REFERENCES events (event_id),
    holder      TEXT NOT NULL,
    seats       INTEGER NOT NULL CHECK (seats > 0),
    status      TEXT NOT NULL DEFAULT 'issued',
    issued_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

# (event_id, title, venue, starts_at, capacity). Big capacities so load tests never sell out; one event
# is sold out on purpose (a hold on it answers 409).
SEED_EVENTS: tuple[tuple[str, str, str, str, int], ...] = (
    ("evt-1", "Night Trains Live", "Hall A", "2027-03-05T20:00:00+00:00", 1_000_000),
    ("evt-2", "The Incident Review Quartet", "Blue Room", "2027-03-12T21:00:00+00:00", 1_000_000),
    ("evt-3", "Chaos Monkeys: Improv Night", "Hall B", "2027-04-02T19:30:00+00:00", 1_000_000),
    ("evt-4", "Failover Symphony", "Grand Hall", "2027-04-20T19:00:00+00:00", 1_000_000),
    ("evt-5", "Sold-out Matinee", "Small Stage", "2027-05-01T15:00:00+00:00", 0),
)


async def migrate(conn: asyncpg.Connection) -> int:
    """Create the tables and seed the events; return how many events were inserted (0 on a re-run)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(DDL)
        inserted = 0
        for event_id, title, venue, starts_at, capacity in SEED_EVENTS:
            status = await conn.execute(
                "INSERT INTO events (event_id, title, venue, starts_at, capacity, seats_left) "
                "VALUES ($1, $2, $3, $4::text::timestamptz, $5, $5) ON CONFLICT (event_id) DO NOTHING",
                event_id, title, venue, starts_at, capacity)
            inserted += int(status.rsplit(" ", 1)[-1])
    return inserted
