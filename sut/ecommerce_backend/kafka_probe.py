"""Kafka broker check: one ApiVersions round trip (what ``kafka-broker-api-versions`` does).

A raw protocol request is cheap enough to run every READINESS_INTERVAL_SECONDS and, unlike a
client library, keeps no state between checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct

API_VERSIONS_KEY = 18
CLIENT_ID = b"ecommerce-backend-probe"
_correlation_ids = itertools.count(1)


class KafkaProbeError(Exception):
    """The broker answered, but not with a valid ApiVersions response."""


async def api_versions(host: str, port: int) -> int:
    """Send ApiVersions v0 to one broker and return how many APIs it supports."""
    correlation_id = next(_correlation_ids) & 0x7FFFFFFF
    header = struct.pack(">hhih", API_VERSIONS_KEY, 0, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack(">i", len(header)) + header)
        await writer.drain()
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        if not 6 <= size <= 1_000_000:
            raise KafkaProbeError(f"bad ApiVersions response size {size}")
        body = await reader.readexactly(size)
        got_id, error_code = struct.unpack(">ih", body[:6])
        if got_id != correlation_id:
            raise KafkaProbeError(f"correlation id mismatch ({got_id} != {correlation_id})")
        if error_code != 0:
            raise KafkaProbeError(f"ApiVersions error code {error_code}")
        (count,) = struct.unpack(">i", body[6:10]) if len(body) >= 10 else (0,)
        return count
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 0.2)


async def check_brokers(servers: list[tuple[str, int]], timeout: float) -> str:
    """Succeed if any bootstrap broker answers ApiVersions within ``timeout``; return which one."""
    errors: list[BaseException] = []
    for host, port in servers:
        try:
            async with asyncio.timeout(timeout):
                await api_versions(host, port)
            return f"{host}:{port}"
        except Exception as exc:
            errors.append(exc)
    raise errors[0] if len(errors) == 1 else ExceptionGroup("no Kafka broker answered", errors)  # type: ignore[arg-type]
