"""The release switches, applied to every API (``/v2``) endpoint and never to the probes or ``/metrics``.

- ``[release] extra_latency_ms``: each API answer is delayed by that much (a slow release, for canaries).
- A version ending in ``-bad`` is the known-bad release: it starts, passes liveness and readiness, then
  fails every API request with 500 (a bug only production traffic reaches). Rolling back is the cure.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from .config import ReleaseConfig

Endpoint = Callable[[Request], Awaitable[Response]]


class KnownBadReleaseError(RuntimeError):
    """The defect of the known-bad release."""


def apply_release(endpoint: Endpoint, release: ReleaseConfig) -> Endpoint:
    """The endpoint as this release serves it."""
    if not release.is_bad and release.extra_latency_ms == 0:
        return endpoint
    delay_s = release.extra_latency_ms / 1000

    @functools.wraps(endpoint)
    async def released(request: Request) -> Response:
        if delay_s:
            await asyncio.sleep(delay_s)
        if release.is_bad:
            raise KnownBadReleaseError(f"release {release.version}: seat map decoder rejects every event "
                                       f"(unsupported layout version 3)")
        return await endpoint(request)

    return released
