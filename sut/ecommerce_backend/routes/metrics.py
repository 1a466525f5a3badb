"""The Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..breakers import is_open
from ..context import AppContext, get_ctx

router = APIRouter(tags=["metrics"])


@router.get("/metrics")
async def metrics(ctx: AppContext = Depends(get_ctx)) -> Response:
    """All metrics in the Prometheus text format (breaker and readiness gauges refreshed first)."""
    m = ctx.metrics
    m.circuit_breaker_open.labels(dependency="redis").set(1 if is_open(ctx.cache.breaker) else 0)
    m.circuit_breaker_open.labels(dependency="kafka").set(1 if is_open(ctx.publisher.breaker) else 0)
    ctx.readiness.evaluate()
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
