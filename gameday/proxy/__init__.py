"""The fault proxy: a TCP proxy that speaks Toxiproxy's published HTTP API.

Why our own and not Toxiproxy: no ``toxiproxy-server`` binary can be installed on the machines gameday targets
locally, and every client (``chaostoolkit-toxiproxy``, toxiproxy-python, testcontainers, curl as the README shows)
only needs the HTTP API. So this package implements that API on asyncio: one process and one event loop for every
proxy and connection (no thread per connection, nothing to tune on a 2-core box), and each toxic is a transform
over the chunks of one direction of one connection (``toxics.py``), applied live as toxics come and go.

Modules: ``errors`` (the API's error bodies and codes), ``addresses`` (parsing listen/upstream, loopback only),
``toxics`` (what each toxic does), ``link`` (one proxied connection), ``proxies`` (listeners, the collection,
/populate), ``server`` (the HTTP routes), ``__main__`` (``python -m gameday.proxy``).
"""

from __future__ import annotations

#: The Toxiproxy release whose HTTP API this package implements (``GET /version`` reports it).
TOXIPROXY_API_VERSION = "2.12.0"
#: Toxiproxy's default API port.
DEFAULT_API_PORT = 8474
