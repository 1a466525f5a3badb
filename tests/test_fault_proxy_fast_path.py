"""The fault proxy's fast path (``gameday/proxy/link.py``: a direction no toxic acts on writes what arrives in the
transport's callback, without its queue and pump) keeps every byte in order while toxics come and go on a busy
connection, and a toxic added to a connection that was on the fast path acts on it at once.

In-process (one event loop: the proxy, a real TCP echo server and a client on loopback); a few seconds.
"""

from __future__ import annotations

import asyncio
import time

from gameday.proxy.proxies import ProxyCollection

BLOCK = 1000
BLOCKS = 3000


async def _echo_server() -> tuple[asyncio.Server, str]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def _order_across_toxics(slow_client: bool, timeout_s: float) -> tuple[bytes, bytes]:
    server, upstream = await _echo_server()
    collection = ProxyCollection()
    proxy = await collection.create({"name": "echo", "listen": "127.0.0.1:0", "upstream": upstream})
    host, port = proxy.listen.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    sent = b"".join(f"{i:0{BLOCK - 1}d}\n".encode() for i in range(BLOCKS))

    async def send() -> None:
        for start in range(0, len(sent), BLOCK * 10):
            writer.write(sent[start:start + BLOCK * 10])
            await writer.drain()
            await asyncio.sleep(0.0005)

    async def toggle() -> None:  # toxics on and off, both ways, while the bytes flow; removing a latency lets
        # its backlog go while new bytes arrive: they must wait behind it, not take the fast path past it
        toxics = [{"name": "lag", "type": "latency", "attributes": {"latency": 100}},
                  {"name": "cut", "type": "slicer", "stream": "upstream", "attributes": {"average_size": 700}},
                  {"name": "slow", "type": "bandwidth", "attributes": {"rate": 5000}}]
        for toxic in toxics * 2:
            proxy.add_toxic(toxic)
            await asyncio.sleep(0.12)
            proxy.remove_toxic(toxic["name"])
            await asyncio.sleep(0.02)

    async def receive() -> bytes:  # a slow client (small reads, short pauses) backs the proxy's writes up
        got = bytearray()
        while len(got) < len(sent) and (data := await reader.read(4096 if slow_client else 16384)):
            got += data
            if slow_client:
                await asyncio.sleep(0.001)
        return bytes(got)

    sender = asyncio.create_task(send())
    toggler = asyncio.create_task(toggle())
    try:
        received = await asyncio.wait_for(receive(), timeout=timeout_s)
    finally:
        await asyncio.gather(sender, toggler)
        writer.close()
        await collection.close(grace_s=1)
        server.close()
    return sent, received


def test_bytes_keep_their_order_while_toxics_come_and_go() -> None:
    sent, received = asyncio.run(_order_across_toxics(slow_client=False, timeout_s=20))
    assert len(received) == len(sent)
    assert received == sent


def test_bytes_survive_toxics_coming_and_going_while_the_client_reads_slowly() -> None:
    """The client reads 4 KB at a time with pauses: the proxy's writes back up, the fast path must give way to the
    queue and take over again only once the queue is empty. (A client socket with SO_RCVBUF shrunk to 8 KB after
    connecting stalls on loopback with or without a proxy in the path whenever a writer's segments outgrow the
    window: Linux sends no segment while one MSS, 32-64 KB on loopback, does not fit the peer's window, until a
    zero-window probe; `ss -ti` shows it as rwnd_limited with the data unsent. No real client has such a window.)"""
    sent, received = asyncio.run(_order_across_toxics(slow_client=True, timeout_s=30))
    assert len(received) == len(sent)
    assert received == sent


async def _toxic_reaches_a_fast_connection() -> tuple[float, float, float]:
    server, upstream = await _echo_server()
    collection = ProxyCollection()
    proxy = await collection.create({"name": "echo", "listen": "127.0.0.1:0", "upstream": upstream})
    host, port = proxy.listen.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))

    async def round_trip() -> float:
        started = time.monotonic()
        writer.write(b"ping\n")
        await asyncio.wait_for(reader.readexactly(5), timeout=5)
        return time.monotonic() - started

    clear = await round_trip()
    proxy.add_toxic({"name": "lag", "type": "latency", "attributes": {"latency": 150}})
    slowed = await round_trip()
    proxy.remove_toxic("lag")
    lifted = await round_trip()
    writer.close()
    await collection.close()
    server.close()
    return clear, slowed, lifted


def test_a_toxic_acts_at_once_on_a_connection_on_the_fast_path() -> None:
    clear, slowed, lifted = asyncio.run(_toxic_reaches_a_fast_connection())
    assert slowed >= 0.135  # the latency toxic's 150 ms, less timer slack
    assert clear < 0.1 and lifted < 0.1  # far under the toxic's delay, whatever the machine's load
