"""``python -m gameday.proxy``: run the fault proxy's API (default 127.0.0.1:8474, Toxiproxy's port).

It listens on loopback only (127.0.0.0/8): a fault proxy reachable from elsewhere would let anyone cut the
service off its dependencies. ``--config FILE`` populates proxies at start from a JSON list, like
``toxiproxy-server -config``. Once the API answers it prints one line with its URL (so ``--port 0`` is usable);
SIGTERM or SIGINT closes every proxy and connection and exits 0. Bad input is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any, NoReturn

from aiohttp import web

from gameday.proxy import DEFAULT_API_PORT, TOXIPROXY_API_VERSION
from gameday.proxy.addresses import is_loopback
from gameday.proxy.errors import ApiError
from gameday.proxy.proxies import ProxyCollection
from gameday.proxy.server import make_app

PROG = "gameday-proxy"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: {message}\n")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog=PROG, description="A fault proxy speaking Toxiproxy's HTTP API.")
    parser.add_argument("--host", default="127.0.0.1", help="API address, on 127.0.0.0/8 (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_API_PORT, help="API port (default 8474; 0 = any)")
    parser.add_argument("--config", help="JSON list of proxies to create at start (as POST /populate takes)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.exit(2, f"{PROG}: refusing to listen on {args.host}: the fault proxy binds only to 127.0.0.0/8\n")
    if not 0 <= args.port <= 65535:
        parser.exit(2, f"{PROG}: port {args.port} is out of range\n")
    return args


def _die(message: str, code: int) -> NoReturn:
    print(f"{PROG}: {message}", file=sys.stderr)
    sys.exit(code)


def _read_config(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        _die(f"cannot read --config {path}: {exc}", 2)


async def serve(host: str, port: int, config: Any) -> None:
    collection = ProxyCollection()
    if config is not None:
        _, failure = await collection.populate(config)
        if failure is not None:
            await collection.close()
            raise ApiError(f"--config: {failure.message}", failure.status)
    runner = web.AppRunner(make_app(collection), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        await collection.close()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        _die(f"cannot listen on {host}:{port}: {reason}", 1)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bound = runner.addresses[0][1]
    print(f"{PROG}: Toxiproxy {TOXIPROXY_API_VERSION} API on http://{host}:{bound}", flush=True)
    try:
        await stop.wait()
    finally:
        await collection.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=args.log_level, format=f"{PROG}: %(message)s", stream=sys.stderr)
    config = _read_config(args.config) if args.config else None
    try:
        asyncio.run(serve(args.host, args.port, config))
    except ApiError as exc:
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
