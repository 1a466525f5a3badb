"""One synchronous worker: a single-threaded HTTP server that answers one request at a time (like gunicorn's
``sync`` worker with ``--workers 1``), after a start that does real work.

The start, before the port is bound (as gunicorn's worker loads the app before it serves): PostgreSQL reached
(retried for ``START_CONNECT_S``), the schema version checked, the catalogue loaded, and its pages pre-rendered for
``warmup_cpu_s`` seconds of CPU: on a busy machine the same work takes longer, as a real start does.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import FrameType

import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from . import SCHEMA_VERSION, pages
from .app import Response, Shop, parse
from .config import Config
from .db import Database, Unavailable
from .pages import Product

log = logging.getLogger("heavy_shop")
START_CONNECT_S = 20.0  # PostgreSQL may still be starting with the stack
REQUEST_TIMEOUT_S = 5.0  # a client that sends nothing does not hold the one worker longer


class Metrics:
    """The service's Prometheus metrics, labelled like the other reference services'."""

    def __init__(self, config: Config) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("http_requests_total", "HTTP requests by method, route and status",
                                ["method", "route", "status"], registry=r)
        self.duration = Histogram("http_request_duration_seconds", "HTTP request duration by route and status",
                                  ["route", "status"], registry=r,
                                  buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0))
        Gauge("app_start_seconds", "seconds this replica took to start", registry=r).set_function(
            lambda: self.started_in)
        self.started_in = 0.0


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.0, one request per connection: a kept-alive idle client would block the only worker."""

    server: ShopServer
    timeout = REQUEST_TIMEOUT_S

    def do_GET(self) -> None:
        self.answer()

    def do_HEAD(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        self.answer()

    def answer(self) -> None:
        began = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        shop, metrics = self.server.shop, self.server.metrics
        path = self.path.split("?")[0]
        if path == "/healthz":
            route, res = path, Response(200, b"ok", "text/plain")
        elif path == "/readyz":
            ok, why = shop.ready()
            route, res = path, Response(200 if ok else 503, why.encode(), "text/plain")
        elif path == "/metrics":
            route, res = path, Response(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
        else:
            try:
                route, res = shop.route(parse(self.command, self.path, headers, body))
            except Unavailable as exc:
                route, res = "<unavailable>", Response(503, b"<h1>Service unavailable</h1>")
                log.warning("503 %s %s: %s", self.command, path, exc)
            except Exception:
                route, res = "<error>", Response(500, b"<h1>Server error</h1>")
                log.exception("500 %s %s", self.command, path)
        self.send_response(res.status)
        self.send_header("Content-Type", res.content_type)
        self.send_header("Content-Length", str(len(res.body)))
        for key, value in res.headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(res.body)
        status = str(res.status)
        metrics.requests.labels(self.command, route, status).inc()
        metrics.duration.labels(route, status).observe(time.perf_counter() - began)

    def log_message(self, format: str, *args: object) -> None:
        if self.path.split("?")[0] not in ("/healthz", "/readyz", "/metrics"):
            log.info("%s %s", self.address_string(), format % args)


class ShopServer(HTTPServer):
    """Single-threaded: requests wait in the listen backlog while one is served."""

    request_queue_size = 64
    allow_reuse_address = True

    def __init__(self, config: Config, shop: Shop, metrics: Metrics) -> None:
        self.shop = shop
        self.metrics = metrics
        super().__init__((config.host, config.port), Handler)


def load_catalogue(db: Database) -> list[Product]:
    rows = db.fetch("SELECT slug, name, category, price_cents, stock, description FROM products ORDER BY id")
    return [Product(**dict(r)) for r in rows]


def warm_up(catalogue: list[Product], config: Config) -> int:
    """Pre-render the catalogue's pages until ``warmup_cpu_s`` of CPU is spent; the pages rendered."""
    began = time.process_time()
    rendered = 0
    pages_total = max(1, -(-len(catalogue) // config.page_size))
    while time.process_time() - began < config.warmup_cpu_s:
        page = 1 + rendered % pages_total
        pages.etag(pages.listing(catalogue, page, config.page_size, base=config.public_url, csrf="",
                                 work=config.page_work))
        rendered += 1
    return rendered


def connect(config: Config) -> Database:
    db = Database(config)
    deadline = time.monotonic() + START_CONNECT_S
    while True:
        try:
            version = db.fetchval("SELECT max(version) FROM schema_version")
            break
        except Unavailable as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"heavy-shop: cannot start: {exc}") from None
            time.sleep(0.5)  # PostgreSQL still starting
    if version != SCHEMA_VERSION:
        raise SystemExit(f"heavy-shop: cannot start: schema version {version}, expected {SCHEMA_VERSION} "
                         "(run migrate)")
    return db


def serve(config: Config) -> int:
    """Start (the real work above), then serve until SIGTERM."""
    began = time.monotonic()
    db = connect(config)
    catalogue = load_catalogue(db)
    rendered = warm_up(catalogue, config)
    cache = redis.Redis.from_url(config.redis_url, socket_timeout=config.redis_timeout_s,
                                 socket_connect_timeout=config.redis_timeout_s)
    metrics = Metrics(config)
    server = ShopServer(config, Shop(config, db, cache, catalogue, config.page_work), metrics)
    metrics.started_in = time.monotonic() - began

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    log.info("%s %s listening on %s:%d after %.1f s (%d products, %d pages pre-rendered)", config.instance,
             config.release, config.host, config.port, metrics.started_in, len(catalogue), rendered)
    sys.stderr.flush()
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0
