"""Request bodies of the API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

ProductId = Annotated[int, Field(ge=1, le=2_147_483_647)]
Quantity = Annotated[int, Field(ge=1, le=1000)]
CART_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


class LineItem(BaseModel):
    """A product and how many of it."""

    model_config = ConfigDict(extra="forbid")

    product_id: ProductId
    quantity: Quantity


class OrderRequest(BaseModel):
    """A new order: explicit ``items``, or the content of cart ``cart_id``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer: str = Field(min_length=1, max_length=200)
    items: list[LineItem] | None = Field(default=None, min_length=1, max_length=100)
    cart_id: str | None = Field(default=None, pattern=CART_ID_PATTERN)

    @model_validator(mode="after")
    def _items_or_cart(self) -> OrderRequest:
        """Exactly one of ``items`` and ``cart_id``."""
        if (self.items is None) == (self.cart_id is None):
            raise ValueError("give exactly one of 'items' and 'cart_id'")
        return self


def merge_items(items: list[LineItem]) -> dict[int, int]:
    """Sum the quantities of repeated products: {product_id: quantity}."""
    merged: dict[int, int] = {}
    for item in items:
        merged[item.product_id] = merged.get(item.product_id, 0) + item.quantity
    return merged
