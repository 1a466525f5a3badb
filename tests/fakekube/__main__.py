"""Standalone fake API server: ``python -m tests.fakekube --port 0 --kubeconfig PATH --seed``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .fake import FakeKube
from .kubeconfig import write_kubeconfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakekube", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for the server to this path")
    parser.add_argument("--context", default="fake-kube")
    parser.add_argument("--namespace", default="production")
    parser.add_argument("--seed", action="store_true", help="create the ecommerce scenario in --namespace")
    args = parser.parse_args(argv)

    kube = FakeKube.start(args.host, args.port)
    try:
        if args.kubeconfig:
            kube.kubeconfig_path = write_kubeconfig(
                kube.url, args.kubeconfig.parent, args.context, args.namespace, filename=args.kubeconfig.name
            )
        if args.seed:
            kube.seed_ecommerce(args.namespace)
        print(kube.url, flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
    finally:
        kube.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
