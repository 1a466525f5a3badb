"""Server-rendered HTML: the CPU a page costs is real work, as in a template engine over a product list.

Every listing computes its facets over the whole catalogue (categories, price bands, stock) and renders each card
through a template with escaping; every page gets a content hash (its ETag). On a typical heavy web app that is
tens of milliseconds of CPU per page; nothing here sleeps to look slow.
"""

from __future__ import annotations

import hashlib
import html
from collections import Counter
from dataclasses import dataclass
from string import Template

CARD = Template("""<li class="product" data-category="$category">
  <a href="$url">$name</a> <span class="price">$price</span> <span class="stock">$stock</span>
  <p>$summary</p>
  <form method="post" action="/basket/add/"><input type="hidden" name="csrfmiddlewaretoken" value="$csrf">
  <input type="hidden" name="product" value="$slug"><button>Add to basket</button></form>
</li>""")
LAYOUT = Template("""<!doctype html>
<html><head><title>$title - heavy-shop</title><meta name="release" content="$release"></head>
<body><header><a href="$base/">heavy-shop</a> $user_links <a href="$base/basket/">basket</a></header>
<main><h1>$title</h1>
$body
</main><footer>served by $instance</footer></body></html>
""")


@dataclass(frozen=True)
class Product:
    """One catalogue entry, as loaded at start."""

    slug: str
    name: str
    category: str
    price_cents: int
    stock: int
    description: str


def price(cents: int) -> str:
    return f"€{cents // 100}.{cents % 100:02d}"


def facets(catalogue: list[Product], passes: int) -> str:
    """Faceted navigation over the whole catalogue: per category, price band and stock level, for ``passes`` band
    widths. A page's CPU is mostly this (``[app] page_work``): the stand-in for a heavy ORM and template engine."""
    best: list[tuple[int, str, int, bool, int]] = []
    for width in range(1, passes + 1):
        bands: Counter[tuple[str, int, bool]] = Counter()
        for p in catalogue:
            bands[(p.category, p.price_cents // (1000 * width), p.stock > 0)] += 1
        best += [(-n, c, band * width * 10, s, width) for (c, band, s), n in bands.most_common(4)]
    shown = "".join(f"<li>{html.escape(c)} {low}€+ {'in stock' if s else 'sold out'}: {-n}</li>"
                    for n, c, low, s, _ in sorted(best)[:16])
    return f"<ul class=\"facets\">{shown}</ul>"


def cards(products: list[Product], base: str, csrf: str) -> str:
    return "\n".join(CARD.substitute(
        category=html.escape(p.category), url=f"{base}/products/{p.slug}/", name=html.escape(p.name),
        price=price(p.price_cents), stock="in stock" if p.stock else "sold out",
        summary=html.escape(p.description[:120]), csrf=csrf, slug=p.slug) for p in products)


def layout(title: str, body: str, *, base: str, release: str, instance: str, user: str | None) -> str:
    links = (f'signed in as <a href="{base}/account/">{html.escape(user)}</a>' if user
             else f'<a href="{base}/accounts/login/">log in</a> <a href="{base}/accounts/signup/">sign up</a>')
    return LAYOUT.substitute(title=html.escape(title), body=body, base=base, release=html.escape(release),
                             instance=html.escape(instance), user_links=links)


def etag(text: str) -> str:
    """The page's content hash (its ETag), as a cache layer computes it."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def listing(catalogue: list[Product], page: int, size: int, *, base: str, csrf: str, work: int) -> str:
    """A page of the catalogue with its facets and pagination links."""
    ordered = sorted(catalogue, key=lambda p: (p.category, -p.stock, p.price_cents, p.slug))
    chunk = ordered[(page - 1) * size:page * size]
    pages = max(1, -(-len(catalogue) // size))
    nav = " ".join(f'<a href="{base}/products/?page={n}">{n}</a>' for n in range(1, pages + 1))
    return f"{facets(catalogue, work)}\n<ul class=\"products\">\n{cards(chunk, base, csrf)}\n</ul>\n<nav>{nav}</nav>"


def detail(product: Product, related: list[Product], *, base: str, csrf: str, work: int) -> str:
    """A product page, its related products (same category, nearest price) below it."""
    nearest = sorted((p for p in related if p.category == product.category and p.slug != product.slug),
                     key=lambda p: abs(p.price_cents - product.price_cents))[:12]
    return (f"<article class=\"product-detail\" data-slug=\"{product.slug}\"><p>{html.escape(product.description)}"
            f"</p><p class=\"price\">{price(product.price_cents)}</p></article>\n"
            f"<ul class=\"products\">{cards([product], base, csrf)}</ul>\n{facets(related, work)}\n"
            f"<h2>Related</h2><ul class=\"related\">{cards(nearest, base, csrf)}</ul>")


def form(action: str, csrf: str, fields: list[tuple[str, str]], button: str, error: str = "") -> str:
    inputs = "".join(f'<label>{name} <input type="{kind}" name="{name}"></label>' for name, kind in fields)
    shown = f'<p class="error">{html.escape(error)}</p>' if error else ""
    return (f'{shown}<form method="post" action="{action}">'
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">{inputs}<button>{button}</button></form>')
