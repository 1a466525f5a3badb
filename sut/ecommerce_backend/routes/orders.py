"""Order routes (PostgreSQL transaction with outbox; Kafka events relayed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path

from ..context import AppContext, get_ctx
from ..models import OrderRequest
from ..orders import InvalidOrder

router = APIRouter(prefix="/api/orders", tags=["orders"])


@router.post("", status_code=201)
async def create_order(body: OrderRequest, ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    """Accept an order (201 even while Kafka is down); 503 while PostgreSQL is down."""
    try:
        return await ctx.orders.place(body)
    except InvalidOrder as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


@router.get("/{order_id}")
async def get_order(order_id: Annotated[int, Path(ge=1, le=9_223_372_036_854_775_807)],
                    ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    """The order with ``event_published``; 404 when unknown."""
    order = await ctx.orders.get(order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="order not found")
    return order
