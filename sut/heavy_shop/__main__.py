"""``python -m sut.heavy_shop serve|worker|migrate --config FILE``.

``serve`` runs one synchronous web worker, ``worker`` the background worker (order confirmations), ``migrate``
creates the schema and seeds the catalogue. Exit codes: 0 done, 1 failed (PostgreSQL unreachable, wrong schema),
2 bad command line or configuration.
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import SERVICE_NAME
from .config import ConfigError, load
from .db import Database, Unavailable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sut.heavy_shop", description=f"Run {SERVICE_NAME}.")
    parser.add_argument("command", choices=("serve", "worker", "migrate"))
    parser.add_argument("--config", metavar="FILE", required=True, help="INI configuration file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"heavy-shop: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        from .schema import migrate

        try:
            print(f"heavy-shop: migrated: {migrate(Database(config))}")
        except Unavailable as exc:
            print(f"heavy-shop: migrate failed: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "worker":
        from .worker import run

        return run(config)
    from .server import serve

    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
