"""One proxied connection: two directions, each a reader and a pump through the proxy's current toxic chain.

Per direction, a reader task copies the source socket into a bounded queue, stamping each chunk with when it was
read, and a pump task takes chunks in order and passes them through the toxics of that stream as they are at that
moment, then writes them. Reading and pumping apart is what keeps ``latency`` pipelined (a chunk waits for its
own due time, not behind the previous chunk's whole delay) and what lets a ``timeout`` toxic drop data while the
client can still write. A full queue stops the reader, so a slow toxic pushes back on the sender through TCP.

An end of stream goes through the chain too (``slow_close`` delays it), then closes the destination socket; the
other direction's reader sees the close, flushes what it holds, and closes its own destination (Toxiproxy does
not keep half-open connections either).

The fast path: while no toxic acts on a direction and nothing is queued, bytes skip the queue and the pump, and
go out from the socket's own callback (``ForwardingReader``) or, when they were buffered, from the reader task. A
dependency round trip then costs the proxy two callbacks instead of four task wake-ups (``make bench`` measures it:
``bench/proxy_cost.py``); a toxic takes over from the next bytes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Callable
from typing import Any

from gameday.proxy.toxics import Chunk, Toxic

READ_SIZE = 32 * 1024
#: chunks a direction holds before it stops reading (Toxiproxy's latency toxic buffers 1024).
QUEUE_CHUNKS = 1024


class ForwardingReader(asyncio.StreamReader):
    """A stream reader that may hand bytes straight on as they arrive, in the transport's own callback.

    ``forward`` (set by the :class:`Direction` reading it) takes the bytes when it can write them at once (no toxic
    acts, nothing is buffered before them, the destination is keeping up) and says so; otherwise they are buffered
    for ``read`` as usual. A clear link's round trip then costs the proxy no task switch and no copy.
    """

    forward: Callable[[bytes], bool] | None = None

    def feed_data(self, data: bytes) -> None:
        if self.forward is not None and self.forward(data):
            return
        super().feed_data(data)


def _protocol(reader: ForwardingReader, connected: Any = None) -> asyncio.StreamReaderProtocol:
    return asyncio.StreamReaderProtocol(reader, connected, loop=asyncio.get_running_loop())


async def start_server(connected: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any], host: str,
                       port: int) -> asyncio.Server:
    """``asyncio.start_server``, its connections read by :class:`ForwardingReader`."""
    return await asyncio.get_running_loop().create_server(lambda: _protocol(ForwardingReader(), connected),
                                                          host, port)


async def open_connection(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``asyncio.open_connection``, read by :class:`ForwardingReader`."""
    loop = asyncio.get_running_loop()
    reader = ForwardingReader()
    protocol = _protocol(reader)
    transport, _ = await loop.create_connection(lambda: protocol, host, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


class Stub:
    """One toxic acting on one direction of one connection: its per-connection state, timers and sleeps."""

    def __init__(self, link: Link, toxic: Toxic) -> None:
        self.link = link
        self.toxic = toxic
        self.state: dict[str, Any] = {}
        self.rng = link.rng
        self.applies = False
        self.detached = False
        self._waiters: set[asyncio.Future[None]] = set()
        self._timers: set[asyncio.Task[None]] = set()

    def roll(self) -> None:
        """Decide, by the toxic's toxicity, whether it acts on this connection (again after each update)."""
        self.applies = self.rng.random() < self.toxic.toxicity
        if self.applies:
            self.toxic.attach(self)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0 or self.detached:
            return
        waiter = asyncio.get_running_loop().create_future()
        handle = asyncio.get_running_loop().call_later(seconds, _wake, waiter)
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            self._waiters.discard(waiter)

    def later(self, seconds: float, action: Callable[[], None]) -> None:
        async def run() -> None:
            await asyncio.sleep(seconds)
            action()

        task = asyncio.create_task(run())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    def close(self) -> None:
        self.link.close()

    def reset(self) -> None:
        self.link.close(reset=True)

    def interrupt(self) -> None:
        """Wake its sleeps (the data goes on at once) and cancel its timers: the toxic changed or went away."""
        for waiter in self._waiters:
            _wake(waiter)
        for timer in list(self._timers):
            timer.cancel()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Direction:
    """Bytes one way: ``upstream`` (client -> dependency) or ``downstream`` (dependency -> client)."""

    def __init__(self, link: Link, stream: str, source: asyncio.StreamReader, dest: asyncio.StreamWriter) -> None:
        self.link = link
        self.stream = stream
        self.source = source
        self.dest = dest
        self.queue: asyncio.Queue[Chunk | None] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
        self.stubs: dict[Toxic, Stub] = {}
        #: chunks queued for the pump and not yet delivered (0: the fast path may write directly).
        self.pending = 0
        #: the reader task waits in ``read`` on an empty buffer: bytes arriving now come before any not yet written
        self.waiting = False
        if isinstance(source, ForwardingReader):
            source.forward = self._forward

    def attach(self, toxic: Toxic) -> None:
        stub = self.stubs[toxic] = Stub(self.link, toxic)
        stub.roll()

    def update(self, toxic: Toxic) -> None:
        stub = self.stubs.get(toxic)
        if stub is None:
            self.attach(toxic)
            return
        stub.interrupt()
        stub.roll()

    def detach(self, toxic: Toxic) -> None:
        stub = self.stubs.pop(toxic, None)
        if stub is None:
            return
        stub.detached = True
        stub.interrupt()
        if stub.applies:
            toxic.detach(stub)

    def _acting(self, toxic: Toxic) -> Stub | None:
        """The toxic's stub where it acts on this connection; None where its toxicity spared it or it was removed
        while a chunk was on its way (every toxic is attached to every link the moment either appears)."""
        stub = self.stubs.get(toxic)
        return stub if stub is not None and stub.applies and not stub.detached else None

    def _clear(self) -> bool:
        """Nothing between the source and the destination: no toxic acts on this direction and the pump holds no
        chunk. Then the reader writes what it read itself (the fast path): the bytes leave in the same turn of the
        event loop, without the queue, the pump's wake-up and the chain. Order is kept: the pump is idle, so every
        byte read earlier is already with the destination."""
        return self.pending == 0 and not any(stub.applies for stub in self.stubs.values())

    def _forward(self, data: bytes) -> bool:
        """Write ``data`` at once if nothing stands before it (the reader's fast path, from its callback)."""
        transport = self.dest.transport
        if (self.waiting and self._clear() and not self.link.closed and not transport.is_closing()
                and not transport.get_write_buffer_size()):
            transport.write(data)
            return True
        self.waiting = False  # buffered: whatever arrives until the reader task took it must queue behind it
        return False

    async def read(self) -> None:
        loop = asyncio.get_running_loop()
        source, dest = self.source, self.dest
        while True:
            self.waiting = True
            try:
                data = await source.read(READ_SIZE)
            except OSError:  # the source went away: an end of stream like any other
                break
            finally:
                self.waiting = False
            if not data or self.link.closed:
                break
            if self._clear():
                try:
                    dest.write(data)
                    await dest.drain()
                except OSError:  # the destination went away under us, as in the pump
                    self.link.close()
                    return
                continue
            self.pending += 1
            await self.queue.put(Chunk(data, loop.time()))
        await self.queue.put(None)

    async def pump(self) -> None:
        try:
            while (chunk := await self.queue.get()) is not None:
                try:
                    await self._deliver(chunk, self.link.chain(self.stream), 0)
                finally:
                    self.pending -= 1
                if self.link.closed:
                    return
            for toxic in self.link.chain(self.stream):
                if stub := self._acting(toxic):
                    await toxic.at_eof(stub)
                if self.link.closed:
                    return
            self.dest.close()
        except OSError:  # the destination went away under us
            self.link.close()

    async def _deliver(self, chunk: Chunk, chain: list[Toxic], index: int) -> None:
        if self.link.closed:
            return
        if index == len(chain):
            self.dest.write(chunk.data)
            await self.dest.drain()
            return
        stub = self._acting(chain[index])
        if stub is None:
            await self._deliver(chunk, chain, index + 1)
            return
        async for piece in chain[index].transform(chunk, stub):
            await self._deliver(piece, chain, index + 1)


class Link:
    """A client connection and its upstream connection, joined through the proxy's toxics."""

    def __init__(
        self,
        chain: Callable[[str], list[Toxic]],
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        rng: random.Random,
    ) -> None:
        self.chain = chain
        self.rng = rng
        self.closed = False
        self.writers = (client[1], upstream[1])
        self.directions = {
            "upstream": Direction(self, "upstream", client[0], upstream[1]),
            "downstream": Direction(self, "downstream", upstream[0], client[1]),
        }
        self._tasks: list[asyncio.Task[None]] = []
        for stream, direction in self.directions.items():
            for toxic in chain(stream):
                direction.attach(toxic)

    async def run(self) -> None:
        """Proxy until both directions have ended or the link is closed."""
        readers = [asyncio.create_task(d.read()) for d in self.directions.values()]
        pumps = [asyncio.create_task(d.pump()) for d in self.directions.values()]
        self._tasks = readers + pumps
        try:
            await asyncio.wait(pumps)
        except asyncio.CancelledError:  # the proxy is going away
            self.close(abort=True)
            raise
        finally:
            self.closed = True
            for task in self._tasks:
                task.cancel()
            for writer in self.writers:
                writer.close()  # a no-op where a pump closed it already; never drops what is still buffered
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def close(self, reset: bool = False, abort: bool = False) -> None:
        """Close both sockets: a normal close (buffered bytes still go), an abort, or a reset (RST)."""
        if self.closed:
            return
        self.closed = True
        for direction in self.directions.values():
            for stub in direction.stubs.values():
                stub.interrupt()
        for writer in self.writers:
            if reset:
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if reset or abort:
                writer.transport.abort()
            else:
                writer.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
