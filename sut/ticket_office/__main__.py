"""``python -m sut.ticket_office [serve|migrate] --config FILE [--config OVERLAY ...] [--port N]``.

``serve`` (the default) runs the API under uvicorn until SIGTERM; ``migrate`` creates the schema and
seeds the events, once, before replicas start. Exit codes: 0 done, 1 failed (e.g. PostgreSQL
unreachable during migrate), 2 bad command line or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from types import FrameType

import asyncpg
import uvicorn
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from . import SERVICE_NAME
from .app import create_app
from .config import Config, load_config_or_exit
from .database import UNAVAILABLE_ERRORS
from .errors import describe_error
from .logs import configure_logging
from .schema import migrate

GRACEFUL_SHUTDOWN_SECONDS = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments (argparse exits with code 2 on a usage error)."""
    parser = argparse.ArgumentParser(prog="python -m sut.ticket_office",
                                     description=f"Run {SERVICE_NAME}, or create its schema (migrate).")
    parser.add_argument("command", nargs="?", choices=("serve", "migrate"), default="serve",
                        help="serve the API (default) or create the schema and seed events")
    parser.add_argument("--config", metavar="FILE", required=True, action="append",
                        help="TOML configuration file; repeat it to overlay files (a later file wins per key)")
    parser.add_argument("--port", type=int, metavar="N", help="listen port (replaces [server] port)")
    parser.add_argument("--wait", type=float, default=15.0, metavar="SECONDS",
                        help="migrate: how long to keep trying to reach PostgreSQL (default 15)")
    return parser.parse_args(argv)


def serve(config: Config) -> int:
    """Serve until SIGTERM/SIGINT, then shut down gracefully (exit 0)."""
    configure_logging(config.server.instance)
    server = uvicorn.Server(uvicorn.Config(
        create_app(config), host=config.server.host, port=config.server.port, workers=1, log_config=None,
        access_log=False, server_header=False, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on"))
    # uvicorn re-raises the signal that stopped it after its graceful shutdown; with a no-op handler
    # installed, that ends in exit code 0 instead of death by SIGTERM.
    signal.signal(signal.SIGTERM, _ignore_signal)
    server.run()
    return 0 if server.started else 1


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """Handler restored (and re-invoked) by uvicorn after a graceful shutdown."""


async def _migrate(config: Config, wait_s: float) -> int:
    """Connect (retrying while PostgreSQL starts), then apply the schema; returns the events inserted."""
    kwargs = {**config.database.connect_kwargs(), "timeout": config.database.timeout_ms / 1000 + 2}
    async for attempt in AsyncRetrying(stop=stop_after_delay(wait_s), wait=wait_fixed(0.25), reraise=True,
                                       retry=retry_if_exception_type(UNAVAILABLE_ERRORS)):
        with attempt:
            conn = await asyncpg.connect(**kwargs)
    try:
        return await asyncio.wait_for(migrate(conn), 30)
    finally:
        await conn.close(timeout=2)


def run_migrate(config: Config, wait_s: float) -> int:
    """The migrate command: one line on stdout when done, one line on stderr (exit 1) when it fails."""
    try:
        inserted = asyncio.run(_migrate(config, wait_s))
    except (*UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
        print(f"{SERVICE_NAME}: migrate failed: {describe_error(exc, config.database.where, wait_s)}",
              file=sys.stderr, flush=True)
        return 1
    print(f"{SERVICE_NAME}: schema ready on {config.database.where} ({inserted} event(s) seeded)", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and the configuration (exit 2 if invalid), then serve or migrate."""
    args = parse_args(argv)
    if args.port is not None and not 1 <= args.port <= 65535:
        print(f"{SERVICE_NAME}: configuration error: --port {args.port}: must be 1 to 65535", file=sys.stderr)
        return 2
    config = load_config_or_exit(args.config, args.port)
    if args.command == "migrate":
        return run_migrate(config, args.wait)
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
