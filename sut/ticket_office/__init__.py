"""ticket-office: a second reference service, built to differ from ecommerce-backend in every way that matters.

An event-ticket API (Starlette under uvicorn) on PostgreSQL (events, holds, tickets) and Redis (session
tokens, critical: no Redis, no authenticated request). No Kafka. Configured by a TOML file; the schema is
created by a separate ``migrate`` command. Run it with ``python -m sut.ticket_office --config FILE``.
"""

SERVICE_NAME = "ticket-office"
