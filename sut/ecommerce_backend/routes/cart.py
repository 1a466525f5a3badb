"""Cart routes (one Redis hash per cart, behind the Redis circuit breaker)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response

from ..context import AppContext, get_ctx
from ..errors import CacheUnavailable, ServiceUnavailable
from ..models import CART_ID_PATTERN, LineItem

router = APIRouter(prefix="/api/cart", tags=["cart"])

CartId = Annotated[str, Path(pattern=CART_ID_PATTERN)]


def cart_body(cart_id: str, cart: dict[int, int]) -> dict[str, Any]:
    """The JSON form of a cart."""
    items = [{"product_id": pid, "quantity": qty} for pid, qty in sorted(cart.items())]
    return {"cart_id": cart_id, "items": items, "item_count": sum(cart.values())}


@router.get("/{cart_id}")
async def get_cart(cart_id: CartId, ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    """The cart (empty if it does not exist); 503 at once while Redis is down."""
    try:
        cart = await ctx.cache.get_cart(cart_id)
    except CacheUnavailable as exc:
        raise ServiceUnavailable(f"cart {cart_id}: {exc}") from exc
    return cart_body(cart_id, cart)


@router.post("/{cart_id}/items")
async def add_item(cart_id: CartId, item: LineItem, ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    """Add a product (which must exist) to the cart; returns the whole cart."""
    if not ctx.cache.available:
        raise ServiceUnavailable(f"cart {cart_id}: redis: circuit breaker open")
    product, _source = await ctx.catalogue.get_product(item.product_id)
    if product is None:
        raise HTTPException(status_code=404, detail="product not found")
    try:
        cart = await ctx.cache.add_to_cart(cart_id, item.product_id, item.quantity)
    except CacheUnavailable as exc:
        raise ServiceUnavailable(f"cart {cart_id}: {exc}") from exc
    return cart_body(cart_id, cart)


@router.delete("/{cart_id}", status_code=204)
async def delete_cart(cart_id: CartId, ctx: AppContext = Depends(get_ctx)) -> Response:
    """Delete the cart (204 whether or not it existed)."""
    try:
        await ctx.cache.delete_cart(cart_id)
    except CacheUnavailable as exc:
        raise ServiceUnavailable(f"cart {cart_id}: {exc}") from exc
    return Response(status_code=204)
