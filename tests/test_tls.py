"""Every HTTP client of gameday shares one TLS context, built once (building one costs ~20 ms of CPU, and gameday
builds clients for every check), and that context still verifies certificates and host names as httpx's own."""

from __future__ import annotations

import ssl

from gameday import tls
from gameday.calls import Client


def test_clients_share_one_context_built_once() -> None:
    with Client("http://127.0.0.1:1") as first, Client("http://127.0.0.1:2") as second:
        contexts = {id(c._http._transport._pool._ssl_context) for c in (first, second)}
    assert contexts == {id(tls.context())}


def test_the_shared_context_still_verifies() -> None:
    context = tls.context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # a CA bundle loaded: a self-signed certificate is refused
