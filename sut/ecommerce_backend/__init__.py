"""ecommerce-backend: the reference service that the Service Outage runbook is about.

A FastAPI service backed by PostgreSQL (catalogue, orders, outbox), Redis (catalogue cache, carts)
and Kafka (``order-created`` events through a transactional outbox). Run it with
``python -m sut.ecommerce_backend [--config FILE]``.
"""

SERVICE_NAME = "ecommerce-backend"
