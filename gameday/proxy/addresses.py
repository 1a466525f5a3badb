"""Listen and upstream addresses (``host:port``, as Toxiproxy writes them), and the loopback-only rule.

The fault proxy sits between a service and its dependencies on one machine; nothing else should reach it. So both
its API and its proxies listen on 127.0.0.0/8 only. A wildcard listen host (``0.0.0.0``, ``[::]``, empty), which
Toxiproxy's docs and ``chaostoolkit-toxiproxy`` use by default, means 127.0.0.1 here; the proxy's ``listen`` field
then shows where it really listens. Any other host is refused.
"""

from __future__ import annotations

import ipaddress

from gameday.proxy.errors import ApiError

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "*"})
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def split_host_port(address: str) -> tuple[str, int]:
    """``"host:port"``, ``"[v6]:port"`` or ``":port"`` -> (host, port); ValueError on anything else."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"address {address!r} is not host:port")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} of {address!r} is out of range")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host) in LOOPBACK
    except ValueError:
        return False


def loopback_listen(address: str) -> tuple[str, int]:
    """Where a proxy may listen for ``address``: (loopback host, port), or a 400 ApiError saying why not."""
    try:
        host, port = split_host_port(address or ":0")
    except ValueError as exc:
        raise ApiError(f"bad request body: listen: {exc}", 400) from None
    if host in WILDCARD_HOSTS:
        return "127.0.0.1", port
    if host == "localhost":
        return "127.0.0.1", port
    if not is_loopback(host):
        raise ApiError(f"bad request body: listen: {host} is not a loopback address (127.0.0.0/8)", 400)
    return host, port


def upstream_address(address: str) -> tuple[str, int]:
    """(host, port) of an upstream; a 400 ApiError when it is not ``host:port``."""
    try:
        host, port = split_host_port(address)
    except ValueError as exc:
        raise ApiError(f"bad request body: upstream: {exc}", 400) from None
    if not host:
        raise ApiError(f"bad request body: upstream: address {address!r} has no host", 400)
    return host, port
