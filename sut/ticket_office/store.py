"""SQL for events, holds and tickets. Ids are strings: ``evt-1``, ``hold-<hex>``, ``tkt-<hex>``.

A hold takes its seats from the event at once (one conditional UPDATE, so two holds can never share the
last seat); purchasing turns the hold into a ticket, once. Holds and tickets belong to the session's
user: anybody else gets "not found", so ids reveal nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from .database import Database
from .errors import ApiError

_EVENT_COLUMNS = "event_id, title, venue, starts_at, capacity, seats_left"
_HOLD_COLUMNS = "hold_id, event_id, holder, seats, status, created_at"
_TICKET_COLUMNS = "ticket_id, hold_id, event_id, holder, seats, status, issued_at"


def _json(row: asyncpg.Record) -> dict[str, Any]:
    """A row as a JSON-ready dict (timestamps as ISO 8601 strings)."""
    return {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in row.items()}


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


class Store:
    """The service's data, every call through the time-bounded Database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_events(self) -> list[dict[str, Any]]:
        """Every event, soonest first."""
        rows = await self._db.run(
            lambda conn: conn.fetch(f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY starts_at, event_id"))
        return [_json(row) for row in rows]

    async def get_event(self, event_id: str) -> dict[str, Any]:
        """One event, or 404."""
        row = await self._db.run(
            lambda conn: conn.fetchrow(f"SELECT {_EVENT_COLUMNS} FROM events WHERE event_id = $1", event_id))
        if row is None:
            raise ApiError(404, "event_not_found", f"no event {event_id!r}")
        return _json(row)

    async def create_hold(self, holder: str, event_id: str, seats: int) -> dict[str, Any]:
        """Take ``seats`` seats of the event for ``holder``: 404 if no such event, 409 if not enough seats."""

        async def operation(conn: asyncpg.Connection) -> asyncpg.Record | str:
            async with conn.transaction():
                taken = await conn.fetchval(
                    "UPDATE events SET seats_left = seats_left - $2 WHERE event_id = $1 AND seats_left >= $2 "
                    "RETURNING seats_left", event_id, seats)
                if taken is None:
                    exists = await conn.fetchval("SELECT 1 FROM events WHERE event_id = $1", event_id)
                    return "sold_out" if exists else "missing"
                return await conn.fetchrow(
                    f"INSERT INTO holds (hold_id, event_id, holder, seats) VALUES ($1, $2, $3, $4) "
                    f"RETURNING {_HOLD_COLUMNS}", _new_id("hold"), event_id, holder, seats)

        result = await self._db.run(operation)
        if result == "missing":
            raise ApiError(404, "event_not_found", f"no event {event_id!r}")
        if result == "sold_out":
            raise ApiError(409, "not_enough_seats", f"event {event_id!r} has fewer than {seats} seat(s) left")
        return _json(result)  # type: ignore[arg-type]

    async def purchase(self, holder: str, hold_id: str) -> dict[str, Any]:
        """Turn the holder's hold into an issued ticket: 404 if not theirs, 409 if already purchased."""

        async def operation(conn: asyncpg.Connection) -> asyncpg.Record | str:
            async with conn.transaction():
                hold = await conn.fetchrow(
                    "SELECT event_id, seats, status FROM holds WHERE hold_id = $1 AND holder = $2 FOR UPDATE",
                    hold_id, holder)
                if hold is None:
                    return "missing"
                if hold["status"] != "held":
                    return "purchased"
                await conn.execute("UPDATE holds SET status = 'purchased' WHERE hold_id = $1", hold_id)
                return await conn.fetchrow(
                    f"INSERT INTO tickets (ticket_id, hold_id, event_id, holder, seats) VALUES ($1, $2, $3, $4, $5) "
                    f"RETURNING {_TICKET_COLUMNS}", _new_id("tkt"), hold_id, hold["event_id"], holder, hold["seats"])

        result = await self._db.run(operation)
        if result == "missing":
            raise ApiError(404, "hold_not_found", f"no hold {hold_id!r}")
        if result == "purchased":
            raise ApiError(409, "hold_already_purchased", f"hold {hold_id!r} was already purchased")
        return _json(result)  # type: ignore[arg-type]

    async def get_ticket(self, holder: str, ticket_id: str) -> dict[str, Any]:
        """One of the holder's tickets, or 404."""
        row = await self._db.run(lambda conn: conn.fetchrow(
            f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE ticket_id = $1 AND holder = $2", ticket_id, holder))
        if row is None:
            raise ApiError(404, "ticket_not_found", f"no ticket {ticket_id!r}")
        return _json(row)
