"""Proxies (a loopback listener in front of one upstream, with its toxics) and the collection the API manages.

Semantics follow Toxiproxy's: a proxy is created enabled unless told otherwise; disabling it closes its listener
(new connections are refused) and every open connection (a partition); changing ``listen`` or ``upstream``
restarts it; toxics survive a disable and are dropped only by delete, ``/reset`` or being replaced by
``/populate``; ``/populate`` leaves a proxy alone when its listen and upstream are unchanged.

Where ours differs on purpose: an upstream that refuses connections (a database stopped) is refused through the
proxy too, until it accepts again (:meth:`Proxy._mirror_refusal`). Toxiproxy accepts the client, fails to dial and
closes; a service connecting to a stopped dependency through a Kubernetes Service sees "Connection refused"
(kube-proxy rejects a Service without endpoints), and a proxy gameday puts in the path must not change that.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from typing import Any

from gameday.proxy import errors
from gameday.proxy.addresses import loopback_listen, upstream_address
from gameday.proxy.link import Link, open_connection, start_server
from gameday.proxy.toxics import Toxic, parse_attributes, parse_toxicity, toxic_from_json

log = logging.getLogger("gameday.proxy")
REFUSAL_POLL_S = 0.1  # while the upstream refuses, how often the proxy tries it (its listener closed meanwhile)


class Proxy:
    """One listen address forwarding to one upstream through a chain of toxics."""

    def __init__(self, name: str, listen: str, upstream: str, rng: random.Random) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: list[Toxic] = []
        self.links: set[Link] = set()
        self._rng = rng
        self._server: asyncio.Server | None = None
        self._watch: asyncio.Task[None] | None = None  # while the upstream refuses: waits until it accepts again
        #: the tasks serving its connections, awaited at shutdown so none is cancelled half-way.
        self.handlers: set[asyncio.Task[None]] = set()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.to_json() for toxic in self.toxics],
        }

    def chain(self, stream: str) -> list[Toxic]:
        """The toxics acting on ``stream``, in the order they were added."""
        return [toxic for toxic in self.toxics if toxic.stream == stream]

    async def start(self) -> None:
        host, port = loopback_listen(self.listen)
        try:
            server = await start_server(self._accept, host, port)
        except OSError as exc:
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise errors.listen_failed(f"{host}:{port}", f"bind: {reason}") from None
        bound_host, bound_port = server.sockets[0].getsockname()[:2]
        self.listen = f"{bound_host}:{bound_port}"
        self._server = server
        self.enabled = True
        log.info("proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        """Refuse new connections and close the open ones."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._server is None and not self.enabled:
            return
        if self._server is not None:
            self._server.close()
            self._server = None
        self.enabled = False
        for link in list(self.links):
            link.close(abort=True)
        log.info("proxy %s stopped", self.name)

    async def update(self, body: Any) -> None:
        """``POST /proxies/{name}``: new listen/upstream restart it; ``enabled`` starts or stops it."""
        if not isinstance(body, dict):
            raise errors.bad_request_body("expected a JSON object")
        listen = _text(body, "listen", self.listen)
        upstream = _text(body, "upstream", self.upstream)
        enabled = body.get("enabled", self.enabled)
        if not isinstance(enabled, bool):
            raise errors.bad_request_body("enabled must be true or false")
        new_listen = loopback_listen(listen)
        upstream_address(upstream)
        if new_listen != loopback_listen(self.listen) or upstream != self.upstream:
            self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled and not self.enabled:
            await self.start()
        elif not enabled:
            self.stop()

    def find_toxic(self, name: str) -> Toxic:
        for toxic in self.toxics:
            if toxic.name == name:
                return toxic
        raise errors.toxic_not_found()

    def add_toxic(self, body: Any) -> Toxic:
        toxic = toxic_from_json(body)
        if any(existing.name == toxic.name for existing in self.toxics):
            raise errors.toxic_already_exists()
        self.toxics.append(toxic)
        for link in list(self.links):
            link.directions[toxic.stream].attach(toxic)
        log.info("proxy %s: toxic %s added %s", self.name, toxic.name, toxic.to_json())
        return toxic

    def update_toxic(self, name: str, body: Any) -> Toxic:
        """Change a toxic's attributes (those given) and toxicity; live connections take the new values."""
        toxic = self.find_toxic(name)
        if not isinstance(body, dict):
            raise errors.bad_request_body("expected a JSON object")
        attributes = parse_attributes(type(toxic), body.get("attributes"))
        toxicity = parse_toxicity(body["toxicity"]) if "toxicity" in body else toxic.toxicity
        toxic.attributes.update(attributes)
        toxic.toxicity = toxicity
        for link in list(self.links):
            link.directions[toxic.stream].update(toxic)
        return toxic

    def remove_toxic(self, name: str) -> None:
        toxic = self.find_toxic(name)
        self.toxics.remove(toxic)
        for link in list(self.links):
            link.directions[toxic.stream].detach(toxic)
        log.info("proxy %s: toxic %s removed", self.name, name)

    def reset_toxics(self) -> None:
        for toxic in list(self.toxics):
            self.remove_toxic(toxic.name)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        if handler is not None:
            self.handlers.add(handler)
            handler.add_done_callback(self.handlers.discard)
        server = self._server
        if server is None:
            writer.transport.abort()
            return
        host, port = upstream_address(self.upstream)
        try:
            upstream = await open_connection(host, port)
        except OSError as exc:
            log.warning("proxy %s: cannot reach upstream %s: %s", self.name, self.upstream, exc)
            if isinstance(exc, ConnectionRefusedError):
                writer.transport.abort()  # a reset: the nearest an accepted connection gets to a refusal
                self._mirror_refusal(server)
            else:
                writer.close()
            return
        if self._server is not server:  # disabled or restarted while we dialled
            writer.transport.abort()
            upstream[1].transport.abort()
            return
        link = Link(self.chain, (reader, writer), upstream, self._rng)
        self.links.add(link)
        try:
            await link.run()
        finally:
            self.links.discard(link)


    def _mirror_refusal(self, server: asyncio.Server) -> None:
        """The upstream refused: close the listener, so that the next clients are refused as the upstream refuses
        them, and listen again once the upstream accepts (the proxy stays enabled: nobody disabled it)."""
        if self._server is not server or self._watch is not None:
            return
        server.close()
        self._server = None
        log.warning("proxy %s: upstream %s refuses connections: refusing them too until it accepts",
                    self.name, self.upstream)
        self._watch = asyncio.get_running_loop().create_task(self._listen_when_upstream_accepts())

    async def _listen_when_upstream_accepts(self) -> None:
        host, port = upstream_address(self.upstream)
        while True:
            await asyncio.sleep(REFUSAL_POLL_S)
            try:
                _, probe = await asyncio.open_connection(host, port)
            except OSError:
                continue
            probe.transport.abort()
            break
        self._watch = None
        try:
            await self.start()
        except errors.ApiError as exc:  # the port was taken meanwhile: the proxy is down, and says so
            self.enabled = False
            log.error("proxy %s: cannot listen again on %s: %s", self.name, self.listen, exc)


def _text(body: dict[str, Any], field: str, default: str) -> str:
    value = body.get(field, default)
    if not isinstance(value, str):
        raise errors.bad_request_body(f"{field} must be a string")
    return value


def _checked_proxy_fields(body: Any, where: str = "") -> tuple[str, str, str, bool]:
    """(name, listen, upstream, enabled) of a proxy in a request, with Toxiproxy's errors, before any change."""
    if not isinstance(body, dict):
        raise errors.bad_request_body("expected a JSON object")
    name = _text(body, "name", "")
    upstream = _text(body, "upstream", "")
    listen = _text(body, "listen", "")
    enabled = body.get("enabled", True)
    if not name:
        raise errors.missing_field(f"name{where}")
    if not upstream:
        raise errors.missing_field(f"upstream{where}")
    if not isinstance(enabled, bool):
        raise errors.bad_request_body("enabled must be true or false")
    loopback_listen(listen)
    upstream_address(upstream)
    return name, listen, upstream, enabled


class ProxyCollection:
    """Every proxy by name; the operations behind the API, each raising ``ApiError`` as Toxiproxy would."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.rng = rng or random.Random()
        #: API calls change proxies one at a time (each may await a listener).
        self.lock = asyncio.Lock()

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise errors.proxy_not_found() from None

    async def create(self, body: Any) -> Proxy:
        name, listen, upstream, enabled = _checked_proxy_fields(body)
        if name in self.proxies:
            raise errors.proxy_already_exists()
        proxy = Proxy(name, listen, upstream, self.rng)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    def delete(self, name: str) -> None:
        self.get(name).stop()
        del self.proxies[name]

    async def populate(self, body: Any) -> tuple[list[Proxy], errors.ApiError | None]:
        """Create or replace each proxy of the list; a proxy with the same listen and upstream is left alone."""
        if not isinstance(body, list):
            raise errors.bad_request_body("expected a JSON array of proxies")
        wanted = [_checked_proxy_fields(item, f" at proxy {i}") for i, item in enumerate(body, start=1)]
        done: list[Proxy] = []
        for name, listen, upstream, enabled in wanted:
            existing = self.proxies.get(name)
            if (
                existing is not None
                and existing.upstream == upstream
                and loopback_listen(existing.listen) == loopback_listen(listen)
            ):
                done.append(existing)
                continue
            if existing is not None:
                existing.stop()
                del self.proxies[name]
            proxy = Proxy(name, listen, upstream, self.rng)
            try:
                if enabled:
                    await proxy.start()
            except errors.ApiError as exc:
                return done, exc
            self.proxies[name] = proxy
            done.append(proxy)
        return done, None

    async def reset(self) -> None:
        """``POST /reset``: every proxy enabled, every toxic removed."""
        for proxy in self.proxies.values():
            if not proxy.enabled:
                await proxy.start()
            proxy.reset_toxics()

    async def close(self, grace_s: float = 5.0) -> None:
        """Stop every proxy and let the tasks serving their connections finish."""
        for proxy in self.proxies.values():
            proxy.stop()
        handlers = {task for proxy in self.proxies.values() for task in proxy.handlers}
        if handlers:
            await asyncio.wait(handlers, timeout=grace_s)
