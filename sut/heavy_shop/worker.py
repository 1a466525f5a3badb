"""The background worker (a Celery worker's job): sends each order's confirmation e-mail.

It takes order ids from the Redis list the checkout fills, renders the e-mail, writes it to PostgreSQL's
``emails`` table (the outbox a mail relay reads) and marks the order confirmed, then counts it. It beats a
heartbeat in Redis every loop, so ``/api/worker`` shows who is alive. A job that fails (PostgreSQL away) goes back
to the queue; SIGTERM ends it between jobs.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

import redis

from .app import HEARTBEATS, JOBS, PROCESSED
from .config import Config
from .db import Database, Unavailable

log = logging.getLogger("heavy_shop.worker")
POLL_S = 1  # BLPOP's timeout: the heartbeat's and SIGTERM's cadence


def send(db: Database, order_id: int, sender: str) -> bool:
    """Write the order's confirmation e-mail once; False when there is no such order."""
    row = db.fetchrow("SELECT o.id, o.total_cents, o.lines, u.username FROM orders o JOIN users u "
                      "ON u.id = o.user_id WHERE o.id = $1", order_id)
    if row is None:
        return False
    body = f"Hello {row['username']},\n\nthank you for order {row['id']} ({row['total_cents'] / 100:.2f} EUR):\n" \
           f"{row['lines']}\n"
    db.execute("INSERT INTO emails (order_id, recipient, subject, body, sent_by) VALUES ($1, $2, $3, $4, $5) "
               "ON CONFLICT (order_id) DO NOTHING", row["id"], f"{row['username']}@example.test",
               f"Your order {row['id']}", body, sender)
    db.execute("UPDATE orders SET confirmed_at = coalesce(confirmed_at, now()) WHERE id = $1", row["id"])
    return True


def run(config: Config) -> int:
    """Work until SIGTERM."""
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    db = Database(config)
    queue = redis.Redis.from_url(config.redis_url, socket_timeout=POLL_S + config.redis_timeout_s,
                                 socket_connect_timeout=config.redis_timeout_s)
    name = f"{config.instance}-worker"
    log.info("%s %s waiting for jobs on %s", name, config.release, JOBS)
    while not stopping:
        try:
            queue.hset(HEARTBEATS, name, str(time.time()))
            job = queue.blpop([JOBS], timeout=POLL_S)
        except redis.RedisError as exc:
            log.warning("redis: %s", exc)
            time.sleep(POLL_S)
            continue
        if job is None:
            continue
        order_id = int(job[1])
        try:
            if send(db, order_id, name):
                queue.incr(PROCESSED)
                log.info("order %d: confirmation sent", order_id)
        except (Unavailable, redis.RedisError) as exc:
            log.warning("order %d: %s; back to the queue", order_id, exc)
            try:
                queue.rpush(JOBS, str(order_id))
            except redis.RedisError:
                log.error("order %d lost: redis unavailable", order_id)
            time.sleep(POLL_S)
    log.info("%s stopped", name)
    return 0
