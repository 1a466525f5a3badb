"""The shop's pages and forms: routing, sessions (Redis), CSRF tokens, the basket, the checkout.

Like Django: a ``csrftoken`` cookie and the same value in every form's ``csrfmiddlewaretoken`` field, checked on
every POST; a ``sessionid`` cookie naming a session kept in Redis; a checkout that writes the order to PostgreSQL
and queues its confirmation e-mail for the worker (:mod:`.worker`) on a Redis list.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import redis

from . import SCHEMA_VERSION, pages
from .config import Config
from .db import Database, Unavailable
from .pages import Product

SESSION_TTL_S = 86400
JOBS = "heavy_shop:jobs"  # order ids waiting for their confirmation e-mail
PROCESSED = "heavy_shop:emails_sent"
HEARTBEATS = "heavy_shop:workers"  # worker instance -> time of its last loop
PASSWORD_ITERATIONS = 20_000  # pbkdf2, as Django hashes passwords (fewer rounds: a sign-up per journey)


@dataclass
class Response:
    """What a handler answers."""

    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Request:
    """One request as the handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    cookies: dict[str, str]
    form: dict[str, str]


def redirect(location: str, *headers: tuple[str, str]) -> Response:
    return Response(302, b"", headers=[("Location", location), *headers])


def hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PASSWORD_ITERATIONS).hex()
    return f"pbkdf2_sha256${PASSWORD_ITERATIONS}${salt}${digest}"


def check_password(password: str, stored: str) -> bool:
    _, _, salt, _ = stored.split("$")
    return hmac.compare_digest(hash_password(password, salt), stored)


class Shop:
    """Every route of the shop; ``handle`` answers one request (a synchronous worker: one at a time)."""

    def __init__(self, config: Config, db: Database, cache: redis.Redis, catalogue: list[Product],
                 work: int) -> None:
        self.config = config
        self.db = db
        self.redis = cache
        self.catalogue = catalogue
        self.by_slug = {p.slug: p for p in catalogue}
        self.work = work
        self.base = config.public_url

    # --- plumbing ----------------------------------------------------------------------------------------
    def page(self, title: str, body: str, user: str | None, csrf: str, status: int = 200) -> Response:
        text = pages.layout(title, body, base=self.base, release=self.config.release, instance=self.config.instance,
                            user=user)
        return Response(status, text.encode(), headers=[("ETag", f'"{pages.etag(text)}"'), *self.csrf_cookie(csrf)])

    @staticmethod
    def csrf_cookie(token: str) -> list[tuple[str, str]]:
        return [("Set-Cookie", f"csrftoken={token}; Path=/; SameSite=Lax")] if token else []

    @staticmethod
    def csrf_of(req: Request) -> str:
        return req.cookies.get("csrftoken") or secrets.token_urlsafe(24)

    @staticmethod
    def csrf_ok(req: Request) -> bool:
        cookie, sent = req.cookies.get("csrftoken", ""), req.form.get("csrfmiddlewaretoken", "")
        return bool(cookie) and hmac.compare_digest(cookie, sent)

    def session(self, req: Request) -> dict[str, object] | None:
        sid = req.cookies.get("sessionid")
        if not sid:
            return None
        try:
            raw = self.redis.get(f"heavy_shop:session:{sid}")
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from exc
        return json.loads(raw) if raw else None

    def save_session(self, req: Request, data: dict[str, object], sid: str | None = None) -> str:
        sid = sid or req.cookies.get("sessionid") or secrets.token_urlsafe(24)
        try:
            self.redis.set(f"heavy_shop:session:{sid}", json.dumps(data), ex=SESSION_TTL_S)
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from exc
        return sid

    def user_of(self, req: Request) -> tuple[str | None, dict[str, object]]:
        data = self.session(req) or {}
        user = data.get("user")
        return (user if isinstance(user, str) else None), data

    # --- routing -----------------------------------------------------------------------------------------
    def route(self, req: Request) -> tuple[str, Response]:
        """(route template for the metrics, the answer)."""
        p = req.path
        get, post = req.method in ("GET", "HEAD"), req.method == "POST"
        if p == "/" and get:
            return "/", self.home(req)
        if p == "/products/" and get:
            return "/products/", self.products(req)
        if p.startswith("/products/") and p.endswith("/") and get:
            return "/products/<slug>/", self.product(req, p.split("/")[2])
        if p in ("/accounts/signup/", "/accounts/login/"):
            signup = p == "/accounts/signup/"
            if get:
                return p, self.account_form(req, signup)
            if post:
                return p, self.account_post(req, signup)
        if p == "/account/" and get:
            return p, self.account(req)
        if p == "/basket/" and get:
            return p, self.basket(req)
        if p == "/basket/add/" and post:
            return p, self.basket_add(req)
        if p == "/checkout/" and post:
            return p, self.checkout(req)
        if p.startswith("/orders/") and get:
            return "/orders/<id>/", self.order(req, p.strip("/").split("/")[-1])
        if p == "/api/worker" and get:
            return p, self.worker_status()
        return "<unmatched>", Response(404, b"<h1>Not found</h1>")

    # --- pages -------------------------------------------------------------------------------------------
    def home(self, req: Request) -> Response:
        user, _ = self.user_of(req)
        csrf = self.csrf_of(req)
        return self.page("Welcome", pages.listing(self.catalogue, 1, 24, base=self.base, csrf=csrf, work=self.work),
                         user, csrf)

    def products(self, req: Request) -> Response:
        user, _ = self.user_of(req)
        try:
            page = max(1, int(req.query.get("page", ["1"])[0]))
        except ValueError:
            page = 1
        stock = {r["slug"]: r["stock"] for r in self.db.fetch("SELECT slug, stock FROM products ORDER BY id")}
        catalogue = [Product(p.slug, p.name, p.category, p.price_cents, stock.get(p.slug, p.stock), p.description)
                     for p in self.catalogue]
        csrf = self.csrf_of(req)
        body = pages.listing(catalogue, page, self.config.page_size, base=self.base, csrf=csrf, work=self.work)
        return self.page(f"Products, page {page}", body, user, csrf)

    def product(self, req: Request, slug: str) -> Response:
        user, _ = self.user_of(req)
        row = self.db.fetchrow("SELECT slug, name, category, price_cents, stock, description FROM products "
                               "WHERE slug = $1", slug)
        if row is None:
            return Response(404, b"<h1>No such product</h1>")
        csrf = self.csrf_of(req)
        body = pages.detail(Product(**dict(row)), self.catalogue, base=self.base, csrf=csrf, work=self.work)
        return self.page(row["name"], body, user, csrf)

    def account_form(self, req: Request, signup: bool, error: str = "", status: int = 200) -> Response:
        csrf = self.csrf_of(req)
        action = "/accounts/signup/" if signup else "/accounts/login/"
        body = pages.form(action, csrf, [("username", "text"), ("password", "password")],
                          "Sign up" if signup else "Log in", error)
        return self.page("Sign up" if signup else "Log in", body, None, csrf, status)

    def account_post(self, req: Request, signup: bool) -> Response:
        if not self.csrf_ok(req):
            return Response(403, b"<h1>CSRF verification failed</h1>")
        username, password = req.form.get("username", "").strip(), req.form.get("password", "")
        if not username or len(password) < 8:
            return self.account_form(req, signup, "a user name and a password of 8 characters or more", 400)
        if signup:
            done = self.db.fetchval("INSERT INTO users (username, password_hash) VALUES ($1, $2) "
                                    "ON CONFLICT (username) DO NOTHING RETURNING id", username,
                                    hash_password(password))
            if done is None:
                return self.account_form(req, signup, "that user name is taken", 400)
        else:
            stored = self.db.fetchval("SELECT password_hash FROM users WHERE username = $1", username)
            if stored is None or not check_password(password, stored):
                return self.account_form(req, signup, "wrong user name or password", 400)
        sid = self.save_session(req, {"user": username, "basket": []}, secrets.token_urlsafe(24))  # a new session
        return redirect(f"{self.base}/account/", ("Set-Cookie", f"sessionid={sid}; Path=/; HttpOnly; SameSite=Lax"))

    def account(self, req: Request) -> Response:
        user, _ = self.user_of(req)
        if user is None:
            return redirect(f"{self.base}/accounts/login/")
        orders = self.db.fetch("SELECT o.id, o.total_cents, o.confirmed_at FROM orders o JOIN users u "
                               "ON u.id = o.user_id WHERE u.username = $1 ORDER BY o.id DESC LIMIT 20", user)
        rows = "".join(f'<li><a href="{self.base}/orders/{o["id"]}/">order {o["id"]}</a> '
                       f'{pages.price(o["total_cents"])} {"confirmed" if o["confirmed_at"] else "pending"}</li>'
                       for o in orders)
        csrf = self.csrf_of(req)
        body = f'<p class="welcome">Signed in as {user}</p><ul class="orders">{rows}</ul>' \
               f'<p><a href="{self.base}/products/?page=2">browse</a></p>'
        return self.page("Your account", body, user, csrf)

    def basket(self, req: Request) -> Response:
        user, data = self.user_of(req)
        csrf = self.csrf_of(req)
        items = [self.by_slug[s] for s in data.get("basket", []) if isinstance(s, str) and s in self.by_slug]
        total = sum(p.price_cents for p in items)
        body = (f'<ul class="basket">{pages.cards(items, self.base, csrf)}</ul><p class="total">'
                f'{pages.price(total)}</p>' + pages.form("/checkout/", csrf, [], "Check out"))
        return self.page("Basket", body, user, csrf)

    def basket_add(self, req: Request) -> Response:
        if not self.csrf_ok(req):
            return Response(403, b"<h1>CSRF verification failed</h1>")
        user, data = self.user_of(req)
        slug = req.form.get("product", "")
        if slug not in self.by_slug:
            return Response(400, b"<h1>No such product</h1>")
        basket = [s for s in data.get("basket", []) if isinstance(s, str)] + [slug]  # type: ignore[union-attr]
        self.save_session(req, {**data, "user": user, "basket": basket})
        return redirect(f"{self.base}/basket/")

    def checkout(self, req: Request) -> Response:
        if not self.csrf_ok(req):
            return Response(403, b"<h1>CSRF verification failed</h1>")
        user, data = self.user_of(req)
        if user is None:
            return redirect(f"{self.base}/accounts/login/")
        basket = [s for s in data.get("basket", []) if isinstance(s, str) and s in self.by_slug]  # type: ignore
        if not basket:
            return Response(400, b"<h1>Your basket is empty</h1>")
        lines = [{"slug": s, "price_cents": self.by_slug[s].price_cents} for s in basket]
        order = self.db.fetchval(
            "INSERT INTO orders (user_id, total_cents, lines) SELECT id, $2, $3::jsonb FROM users "
            "WHERE username = $1 RETURNING id", user, sum(x["price_cents"] for x in lines), json.dumps(lines))
        try:
            self.redis.rpush(JOBS, str(order))
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from exc
        self.save_session(req, {**data, "basket": []})
        return redirect(f"{self.base}/orders/{order}/")

    def order(self, req: Request, number: str) -> Response:
        user, _ = self.user_of(req)
        if user is None:
            return redirect(f"{self.base}/accounts/login/")
        row = self.db.fetchrow("SELECT o.id, o.total_cents, o.confirmed_at, e.sent_by FROM orders o JOIN users u "
                               "ON u.id = o.user_id LEFT JOIN emails e ON e.order_id = o.id "
                               "WHERE o.id = $1 AND u.username = $2", int(number) if number.isdigit() else -1, user)
        if row is None:
            return Response(404, b"<h1>No such order</h1>")
        state = f"confirmation sent by {row['sent_by']}" if row["confirmed_at"] else "confirmation pending"
        body = (f'<p class="order" data-order="{row["id"]}">Order {row["id"]}: {pages.price(row["total_cents"])}'
                f'</p><p class="confirmation">{state}</p>')
        return self.page(f"Order {row['id']}", body, user, "")

    def worker_status(self) -> Response:
        """The background worker's progress: e-mails sent, jobs waiting, workers seen in the last 10 s."""
        try:
            sent = int(self.redis.get(PROCESSED) or 0)
            waiting = int(self.redis.llen(JOBS))
            beats = {k.decode(): float(v) for k, v in self.redis.hgetall(HEARTBEATS).items()}
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from exc
        now = time.time()
        alive = sorted(k for k, v in beats.items() if now - v < 10)
        body = {"emails_sent": sent, "queued": waiting, "workers_alive": len(alive), "workers": alive}
        return Response(200, json.dumps(body).encode(), "application/json")

    # --- health --------------------------------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        """PostgreSQL answers with the expected schema and Redis answers PING."""
        try:
            version = self.db.fetchval("SELECT max(version) FROM schema_version")
        except Unavailable as exc:
            return False, str(exc)
        if version != SCHEMA_VERSION:
            return False, f"postgres: schema version {version}, expected {SCHEMA_VERSION}"
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            return False, f"redis: {exc}"
        return True, "ok"


def parse(method: str, target: str, headers: dict[str, str], body: bytes) -> Request:
    """A Request from the raw parts (form bodies urlencoded)."""
    parts = urlsplit(target)
    cookies = SimpleCookie()
    cookies.load(headers.get("cookie", ""))
    form = {}
    if body and "application/x-www-form-urlencoded" in headers.get("content-type", ""):
        form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace"), keep_blank_values=True).items()}
    return Request(method, parts.path or "/", parse_qs(parts.query), {k: m.value for k, m in cookies.items()}, form)
