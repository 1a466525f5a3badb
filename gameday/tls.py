"""The one TLS context every HTTP client of gameday uses.

Building a context loads the CA bundle: ~20 ms of CPU each time on these cores, and httpx builds one for every
``httpx.Client()`` and every ``httpx.get()``. gameday builds clients all the time (each check of the steady state,
each proof of a recovery, each item of the checklist, each query to Prometheus, the stop conditions' polls), so one
context built once and shared (an ``ssl.SSLContext`` is safe to share between clients and threads) spares the
machine's cores, which are the service's too. Certificates are verified exactly as httpx's default does.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx

__all__ = ["context"]


@cache
def context() -> ssl.SSLContext:
    """httpx's default verifying context, built once."""
    return httpx.create_ssl_context()
