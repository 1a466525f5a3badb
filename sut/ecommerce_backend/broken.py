"""The known-bad release: a version ending in ``-broken`` passes its probes, then crashes.

It models a release that is healthy in staging and dies under production traffic: at its first
API request (checkout pricing is reached on every API path), or after BROKEN_CRASH_AFTER_SECONDS
with no traffic at all, it logs a FATAL line and exits with code 1 (no graceful shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys

from .logging_setup import get_logger
from .settings import Settings

log = get_logger("release")

CRASH_EXIT_CODE = 1
CRASH_REASON = ("TypeError in checkout pricing: unsupported operand type(s) for *: 'decimal.Decimal' and"
                " 'NoneType' (tax_rate missing for region 'default' since schema v2)")


async def crash_later(settings: Settings, stop: asyncio.Event, traffic: asyncio.Event) -> None:
    """Wait for the first API request or BROKEN_CRASH_AFTER_SECONDS (unless stopped first), then die."""
    waiters = {asyncio.create_task(stop.wait()), asyncio.create_task(traffic.wait())}
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED),
                               settings.BROKEN_CRASH_AFTER_SECONDS)
    for waiter in waiters:
        waiter.cancel()
    if stop.is_set():
        return  # shut down before the crash
    log.critical("release %s crashed: %s", settings.APP_VERSION, CRASH_REASON)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(CRASH_EXIT_CODE)
