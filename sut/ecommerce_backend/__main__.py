"""``python -m sut.ecommerce_backend [--config FILE]``: serve the API with uvicorn."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

import uvicorn

from . import SERVICE_NAME
from .app import create_app
from .logging_setup import configure_logging
from .settings import KEYS, load_settings_or_exit

GRACEFUL_SHUTDOWN_SECONDS = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m sut.ecommerce_backend",
        description=f"Run {SERVICE_NAME}. Settings come from --config (JSON, flat keys) and environment "
                    f"variables (which win): {', '.join(KEYS)}.")
    parser.add_argument("--config", metavar="FILE", help="JSON file with flat configuration keys")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Load the configuration (exit 2 if invalid), then serve until SIGTERM/SIGINT."""
    args = parse_args(argv)
    settings = load_settings_or_exit(args.config)
    configure_logging(settings.POD_NAME)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.HTTP_HOST,
        port=settings.HTTP_PORT,
        workers=1,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully; with this no-op
    # handler in place, a SIGTERM-initiated graceful shutdown ends with exit code 0 instead of -15.
    signal.signal(signal.SIGTERM, _ignore_signal)
    server.run()
    return 0 if server.started else 1


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """Handler restored (and re-invoked) by uvicorn after a graceful shutdown."""


if __name__ == "__main__":
    sys.exit(main())
