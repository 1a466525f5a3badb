"""heavy-shop: a third reference service that behaves like a typical heavy web application.

A server-rendered web shop (HTML pages, a sign-up and login form with a CSRF token, a basket and a checkout) on
PostgreSQL (products, users, orders, e-mails) and Redis (sessions, the job queue: critical), with a background
worker that sends order confirmations. Like a Django app under one synchronous gunicorn worker: one request at a
time per replica, tens of milliseconds of CPU per page, and a slow start (migrations checked, the catalogue loaded
and its pages pre-rendered). Standard library plus the reference services' own dependencies (asyncpg, redis,
prometheus-client). Run it with ``python -m sut.heavy_shop serve|worker|migrate --config FILE``.
"""

SERVICE_NAME = "heavy-shop"
SCHEMA_VERSION = 3  # what ``migrate`` creates; a replica refuses to start on another
