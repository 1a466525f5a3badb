"""Toxics: what each one does to the bytes flowing one way through one proxied connection.

A toxic is a transform over chunks: ``transform`` takes one chunk (bytes and the time they were read) and yields
what goes on down the chain: the same chunk later (``latency``), smaller pieces (``slicer``, ``bandwidth``),
a prefix (``limit_data``) or nothing (``timeout``). ``at_eof`` runs when the source closes, ``attach`` when the
toxic starts acting on a connection and ``detach`` when it is removed from a live one. The toxic holds only its
settings; everything per connection lives on the ``Stub`` it is given (``link.Stub``), so one toxic serves every
connection of its proxy and changes to it reach live connections too.

Attributes, units and defaults follow Toxiproxy's docs (milliseconds, KB/s = 1000 bytes per second, slicer
delay in microseconds). Unlike Toxiproxy, negative values and a toxicity outside [0, 1] are refused with 400.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, NamedTuple, Protocol

from gameday.proxy import errors

STREAMS = ("upstream", "downstream")


class Chunk(NamedTuple):
    """Bytes read from one side, and when (event-loop time, seconds) they were read or last released."""

    data: bytes
    stamp: float


class Stub(Protocol):
    """What a toxic may do to the one direction of one connection it acts on (implemented in ``link``)."""

    state: dict[str, Any]
    rng: random.Random

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None:
        """Sleep, but return at once when this toxic is updated or removed (Toxiproxy's interrupt)."""

    def later(self, seconds: float, action: Callable[[], None]) -> None:
        """Run ``action`` after ``seconds`` unless the toxic is removed or updated first."""

    def close(self) -> None:
        """Close the connection (both sides), as a normal TCP close."""

    def reset(self) -> None:
        """Abort the connection (both sides) with a TCP RST (SO_LINGER 0)."""


class Toxic:
    """A toxic's settings, as the API shows them; subclasses define what it does."""

    type: ClassVar[str]
    #: attribute -> default, in the order Toxiproxy lists them.
    defaults: ClassVar[dict[str, int]]

    def __init__(self, name: str, stream: str, toxicity: float, attributes: dict[str, int]) -> None:
        self.name = name
        self.stream = stream
        self.toxicity = toxicity
        self.attributes = {**self.defaults, **attributes}

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }

    async def transform(self, chunk: Chunk, stub: Stub) -> AsyncIterator[Chunk]:
        yield chunk

    async def at_eof(self, stub: Stub) -> None:
        """The source closed; returning lets the close go on."""

    def attach(self, stub: Stub) -> None:
        """The toxic starts acting on this connection (it was there when it opened, was added, or updated)."""

    def detach(self, stub: Stub) -> None:
        """The toxic was removed while this connection was open."""


class Latency(Toxic):
    """Each chunk leaves ``latency`` ± ``jitter`` ms after it was read; chunks stay in order and in flight."""

    type = "latency"
    defaults: ClassVar[dict[str, int]] = {"latency": 0, "jitter": 0}

    async def transform(self, chunk: Chunk, stub: Stub) -> AsyncIterator[Chunk]:
        delay_ms = float(self.attributes["latency"])
        jitter = self.attributes["jitter"]
        if jitter > 0:
            delay_ms += stub.rng.uniform(-jitter, jitter)
        due = chunk.stamp + delay_ms / 1000
        await stub.sleep(due - stub.now())
        yield Chunk(chunk.data, max(due, stub.now()))


class Bandwidth(Toxic):
    """At most ``rate`` KB/s, released in pieces of at most 100 ms worth; ``rate`` 0 means no limit."""

    type = "bandwidth"
    defaults: ClassVar[dict[str, int]] = {"rate": 0}

    async def transform(self, chunk: Chunk, stub: Stub) -> AsyncIterator[Chunk]:
        rate = self.attributes["rate"]
        if rate <= 0:
            yield chunk
            return
        bytes_per_second = rate * 1000
        step = max(rate * 100, 1)
        for start in range(0, len(chunk.data), step):
            piece = chunk.data[start : start + step]
            free_at = max(stub.state.get("free_at", 0.0), stub.now()) + len(piece) / bytes_per_second
            stub.state["free_at"] = free_at
            await stub.sleep(free_at - stub.now())
            yield Chunk(piece, chunk.stamp)


class SlowClose(Toxic):
    """The close reaches the other side ``delay`` ms after the source closed."""

    type = "slow_close"
    defaults: ClassVar[dict[str, int]] = {"delay": 0}

    async def at_eof(self, stub: Stub) -> None:
        await stub.sleep(self.attributes["delay"] / 1000)


class Timeout(Toxic):
    """Nothing gets through; the connection closes after ``timeout`` ms, or never when it is 0 (a blackhole).

    Removing it closes the connections it held, as Toxiproxy does: bytes were dropped, so what is left of the
    stream would be garbage to the protocol on top of it.
    """

    type = "timeout"
    defaults: ClassVar[dict[str, int]] = {"timeout": 0}

    def attach(self, stub: Stub) -> None:
        if self.attributes["timeout"] > 0:
            stub.later(self.attributes["timeout"] / 1000, stub.close)

    async def transform(self, chunk: Chunk, stub: Stub) -> AsyncIterator[Chunk]:
        return
        yield  # an async generator that yields nothing: the chunk is dropped

    def detach(self, stub: Stub) -> None:
        stub.close()


class ResetPeer(Toxic):
    """When data comes (or the source closes), wait ``timeout`` ms, then reset the connection (TCP RST)."""

    type = "reset_peer"
    defaults: ClassVar[dict[str, int]] = {"timeout": 0}

    async def transform(self, chunk: Chunk, stub: Stub) -> AsyncIterator[Chunk]:
        await self.at_eof(stub)
        return
        yield  # the data that triggered the reset is dropped

    async def at_eof(self, stub: Stub) -> None:
        await stub.sleep(self.attributes["timeout"] / 1000)
        stub.reset()


class Slicer(Toxic):
    """Chunks cut into pieces of ``average_size`` ± ``size_variation`` bytes, ``delay`` µs apart."""

    type = "slicer"
    defaults: ClassVar[dict[str, int]] = {"average_size": 0, "size_variation": 0, "delay": 0}

    async def transform(self, chunk: Chunk, stub: Stub) -> AsyncIterator[Chunk]:
        average = max(self.attributes["average_size"], 1)
        variation = min(self.attributes["size_variation"], average - 1)
        data, start = chunk.data, 0
        while start < len(data):
            size = average + (stub.rng.randint(-variation, variation) if variation > 0 else 0)
            yield Chunk(data[start : start + size], chunk.stamp)
            start += size
            if start < len(data):
                await stub.sleep(self.attributes["delay"] / 1_000_000)


class LimitData(Toxic):
    """The connection closes once ``bytes`` bytes have gone through this direction; the excess is dropped."""

    type = "limit_data"
    defaults: ClassVar[dict[str, int]] = {"bytes": 0}

    async def transform(self, chunk: Chunk, stub: Stub) -> AsyncIterator[Chunk]:
        sent = stub.state.get("sent", 0)
        allowed = chunk.data[: max(self.attributes["bytes"] - sent, 0)]
        if allowed:
            stub.state["sent"] = sent + len(allowed)
            yield Chunk(allowed, chunk.stamp)
        if stub.state.get("sent", 0) >= self.attributes["bytes"]:
            stub.close()


TOXIC_TYPES: dict[str, type[Toxic]] = {
    cls.type: cls for cls in (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData)
}


def parse_attributes(cls: type[Toxic], raw: Any) -> dict[str, int]:
    """The known attributes of ``cls`` in ``raw`` (unknown keys ignored, as Toxiproxy does); 400 on bad values."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise errors.bad_request_body("attributes must be an object")
    parsed: dict[str, int] = {}
    for key in cls.defaults:
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise errors.bad_request_body(f"attribute {key} must be a whole number, got {value!r}")
        if value < 0:
            raise errors.bad_request_body(f"attribute {key} must not be negative, got {value!r}")
        parsed[key] = int(value)
    return parsed


def parse_toxicity(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 1:
        raise errors.bad_request_body(f"toxicity must be a number from 0 to 1, got {raw!r}")
    return float(raw)


def toxic_from_json(body: Any) -> Toxic:
    """A new toxic from a ``POST /proxies/{proxy}/toxics`` body, with Toxiproxy's defaults and errors."""
    if not isinstance(body, dict):
        raise errors.bad_request_body("expected a JSON object")
    stream = body.get("stream") or "downstream"
    if stream not in STREAMS:
        raise errors.invalid_stream()
    kind = body.get("type")
    cls = TOXIC_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise errors.invalid_toxic_type()
    name = body.get("name") or f"{kind}_{stream}"
    if not isinstance(name, str):
        raise errors.bad_request_body("name must be a string")
    toxicity = parse_toxicity(body.get("toxicity", 1.0))
    return cls(name, stream, toxicity, parse_attributes(cls, body.get("attributes")))
