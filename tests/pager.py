"""A loopback PagerDuty Events v2 + Slack webhook for the page tests: it records what arrives, and when, and
answers 202 only to the routing key and webhook path it was given (a wrong secret is a 400, as the real ones)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EVENTS_PATH = "/v2/enqueue"


class Pager(ThreadingHTTPServer):
    """``received``: (monotonic time, path, body); ``on_trigger`` runs while a trigger is being received (before
    the answer), so a test can act while the sender waits."""

    routing_key: str
    slack_path: str
    received: list[tuple[float, str, dict[str, Any]]]
    on_trigger: Callable[[dict[str, Any]], None] | None = None

    def events(self, channel: str) -> list[dict[str, Any]]:
        """The bodies sent to one channel, ``pagerduty`` or ``slack``, in order."""
        path = EVENTS_PATH if channel == "pagerduty" else self.slack_path
        return [body for _, p, body in list(self.received) if p == path]

    def actions(self) -> list[str]:
        """What arrived, in order: PagerDuty's ``event_action`` or ``slack``."""
        return [body.get("event_action") or "slack" for _, _, body in list(self.received)]

    def env(self) -> dict[str, str]:
        """The variables that point gameday's notifier at this pager, with its secrets."""
        base = f"http://127.0.0.1:{self.server_port}"
        return {"GAMEDAY_PAGERDUTY_ROUTING_KEY": self.routing_key,
                "GAMEDAY_PAGERDUTY_EVENTS_URL": base + EVENTS_PATH,
                "GAMEDAY_SLACK_WEBHOOK_URL": base + self.slack_path}


class _Handler(BaseHTTPRequestHandler):
    server: Pager

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append((time.monotonic(), self.path, body))
        if body.get("event_action") == "trigger" and self.server.on_trigger:
            self.server.on_trigger(body)
        ok = (body.get("routing_key") == self.server.routing_key if self.path == EVENTS_PATH
              else self.path == self.server.slack_path)
        self.send_response(202 if ok else 400)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@contextmanager
def serving_pager(routing_key: str, slack_path: str) -> Iterator[Pager]:
    """A pager on a free loopback port for the duration of the block."""
    server = Pager(("127.0.0.1", 0), _Handler)
    server.routing_key, server.slack_path, server.received = routing_key, slack_path, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
