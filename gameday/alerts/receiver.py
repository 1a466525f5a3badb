"""gameday's Alertmanager webhook receiver: every alert it is sent becomes one JSON line in a file.

Run as ``python -m gameday.alerts.receiver --port P --file F`` (loopback only).

- ``POST /alerts``: an Alertmanager webhook payload (version 4); each alert in it is appended to F as
  ``{"status", "labels", "annotations", "startsAt", "endsAt", "fingerprint", "generatorURL", "receiver",
  "receivedAt", "receivedAtUnix"}`` (``receivedAt`` ISO 8601 UTC; ``receivedAtUnix`` seconds since the epoch).
- ``GET /alerts``: the recorded alerts as a JSON array, optionally filtered by ``?alertname=`` and ``?status=``.
- ``GET /healthz``: ``{"status": "ok"}``.

Only the standard library, so it starts in a few tens of milliseconds and has nothing to break.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 10 * 1024 * 1024


class AlertLog:
    """The JSON-lines file of received alerts; one writer lock, one ``write`` per line (O_APPEND)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """Record every alert of one webhook payload; return the records written."""
        now = time.time()
        received_at = datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        records = [
            {
                "status": alert.get("status", payload.get("status")),
                "labels": alert.get("labels", {}),
                "annotations": alert.get("annotations", {}),
                "startsAt": alert.get("startsAt"),
                "endsAt": alert.get("endsAt"),
                "fingerprint": alert.get("fingerprint"),
                "generatorURL": alert.get("generatorURL"),
                "receiver": payload.get("receiver"),
                "receivedAt": received_at,
                "receivedAtUnix": now,
            }
            for alert in payload["alerts"]
        ]
        data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        return records

    def read(self) -> list[dict[str, Any]]:
        """Every record so far (a line being written concurrently is skipped)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, {"status": "ok"})
        elif url.path == "/alerts":
            query = parse_qs(url.query)
            names, statuses = set(query.get("alertname", [])), set(query.get("status", []))
            records = [
                r
                for r in self.server.log.read()
                if (not names or r.get("labels", {}).get("alertname") in names)
                and (not statuses or r.get("status") in statuses)
            ]
            self._send(200, records)
        else:
            self._send(404, {"error": f"no such path: {url.path}"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/alerts":
            self._send(404, {"error": f"no such path: {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length <= 0 or length > MAX_BODY:
            self._send(400, {"error": "missing or oversized body"})
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._send(400, {"error": f"invalid JSON: {exc}"})
            return
        alerts = payload.get("alerts") if isinstance(payload, dict) else None
        if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
            self._send(400, {"error": "not an Alertmanager webhook payload (no 'alerts' list)"})
            return
        records = self.server.log.append(payload)
        self._send(200, {"received": len(records)})

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.log_date_time_string()} {self.address_string()} {format % args}\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], log: AlertLog) -> None:
        super().__init__(address, _Handler)
        self.log = log


def make_server(port: int, path: Path, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A receiver bound to ``host:port`` writing to ``path`` (call ``serve_forever`` on it)."""
    return _Server((host, port), AlertLog(path))


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m gameday.alerts.receiver", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True, help="JSON-lines file the alerts are appended to")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    server = make_server(args.port, args.file, args.host)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"alert receiver on http://{args.host}:{args.port}/alerts writing {args.file}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
