"""Catalogue routes (PostgreSQL, Redis cache as fallback)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response

from ..catalogue import SOURCE_CACHE
from ..context import AppContext, get_ctx

router = APIRouter(prefix="/api/products", tags=["catalogue"])

SERVED_FROM_HEADER = "X-Served-From"


@router.get("")
async def list_products(response: Response, ctx: AppContext = Depends(get_ctx)) -> list[dict[str, Any]]:
    """All products; from the Redis cache (``X-Served-From: cache``) while PostgreSQL fails."""
    products, source = await ctx.catalogue.list_products()
    if source == SOURCE_CACHE:
        response.headers[SERVED_FROM_HEADER] = SOURCE_CACHE
    return products


@router.get("/{product_id}")
async def get_product(response: Response, product_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
                      ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    """One product, 404 when unknown."""
    product, source = await ctx.catalogue.get_product(product_id)
    if product is None:
        raise HTTPException(status_code=404, detail="product not found")
    if source == SOURCE_CACHE:
        response.headers[SERVED_FROM_HEADER] = SOURCE_CACHE
    return product
