"""Raw HTML renderers of the synthetic store: home, search results, product, cart, checkout.

Each renderer takes a :class:`View` (what is on screen) and returns ``(raw_html, url)``.
The raw page is deliberately noisy (see :mod:`shop_env.synth.layout`); observations are
these pages passed through :func:`shop_env.html.simplify`, which
:mod:`shop_env.synth.direct` writes without the raw page (a change here needs its twin
there; ``tests/test_synth_direct.py`` fails until both agree).
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from html import escape
from typing import NamedTuple
from urllib.parse import urlencode

from shop_env.synth import layout
from shop_env.synth.catalog import Catalog, Product
from shop_env.synth.layout import BASE_URL, money, stars_text
from shop_env.synth.search import PAGE_SIZE, PRICE_BANDS, SORTS, Filters, SearchResult

PAGE_TYPES = ("home", "search", "product", "cart", "checkout")


@dataclass
class CartLine:
    """One line of the cart."""

    pid: str
    quantity: int = 1
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class View:
    """Everything a renderer needs to draw one page."""

    kind: str
    query: str = ""
    category: str | None = None
    filters: Filters = Filters()
    sort: str = "relevance"
    page: int = 1
    pid: str | None = None
    selected: dict[str, str] = field(default_factory=dict)
    reviews_expanded: bool = False
    review_query: str = ""
    from_search: bool = False
    notice: str = ""
    cart: list[CartLine] = field(default_factory=list)


DELIVERY_DATES = ("Tue, Mar 4", "Wed, Mar 5", "Fri, Mar 7", "tomorrow")
BUYBOX_DELIVERY = ("Tuesday", "Thursday", "tomorrow")


class CardDraws(NamedTuple):
    """The random parts of one product tile, drawn in this order."""

    ref: int
    qid: int
    delivery: str | None  # full tiles only
    index: int
    component_id: int


def card_draws(rng: random.Random, compact: bool) -> CardDraws:
    """Draw a tile's random parts (shared by the raw and the direct renderer)."""
    ref, qid = rng.randint(1, 99), rng.randint(10**9, 2 * 10**9)
    delivery = None if compact else rng.choice(DELIVERY_DATES)
    return CardDraws(ref, qid, delivery, rng.randint(0, 60), rng.getrandbits(32))


class CheckoutDraws(NamedTuple):
    """The random parts of the checkout page, drawn in this order."""

    recipient: str
    street_number: int
    card_digits: int


def checkout_draws(rng: random.Random) -> CheckoutDraws:
    """Draw the checkout page's random parts (shared by the raw and the direct renderer)."""
    return CheckoutDraws(rng.choice(("J. Doe", "A. Smith", "R. Lee")), rng.randint(10, 999), rng.randint(1000, 9999))


def shown_reviews(p: Product, view: View) -> list:
    """The reviews a product page shows: two, all once expanded, or those matching the review search."""
    if view.review_query:
        words = view.review_query.lower().split()
        return [r for r in p.reviews if any(w in r.text.lower() for w in words)]
    return p.reviews if view.reviews_expanded else p.reviews[:2]


def _card(p: Product, rng: random.Random, *, sponsored: bool = False, compact: bool = False) -> str:
    """A product tile used on home, search and product pages."""
    d = card_draws(rng, compact)
    href = f"{BASE_URL}{p.url_path}?ref=sr_{d.ref}&amp;qid={d.qid}"
    label = escape(p.short_title, quote=True)
    spons = '<span class="s-sponsored">Sponsored</span>' if sponsored else ""
    strike = (f'<span class="a-text-price"><span>List: {money(p.list_price)}</span></span>'
              if p.list_price > p.price else "")
    extra = "" if compact else (
        f'<div class="s-delivery">{"<span>prime</span> " if p.prime else ""}FREE delivery '
        f'{d.delivery}</div>'
        f'<button type="button" class="btn-y" data-track="atc-{p.pid}">Add to cart</button>')
    return (
        f'<div role="listitem" aria-label="{label}" class="s-card" data-asin="{p.pid}" '
        f'data-index="{d.index}" data-component-id="{d.component_id}">{spons}'
        f'<a href="{href}" aria-label="Product image" data-track="img"><img src="https://m.shopmart.example/i/'
        f'{p.pid}._AC_UL320_.jpg" alt="{escape(p.title, quote=True)}" loading="lazy"></a>'
        f'<h2 class="a-size-base"><a href="{href}" aria-label="Product title" data-track="title">'
        f'<span>{escape(p.title)}</span></a></h2>'
        f'<div class="a-row">{layout.svg_icon("star")}<a href="{href}#customerReviews" class="stars">'
        f'{stars_text(p.rating)} {p.review_count:,} ratings</a></div>'
        f'<div class="a-price"><span class="sym">$</span>{p.price:,.2f}</div>{strike}{extra}</div>'
    )


def _page(title: str, body: str, view: View, rng: random.Random, ld: str = "") -> str:
    n_cart = sum(line.quantity for line in view.cart)
    return (layout.head(title, rng, view.kind, ld) + '<body class="sm-' + view.kind + '">'
            + layout.hidden_noise(rng) + layout.nav_bar(view.query, n_cart, rng) + layout.category_bar()
            + body + layout.footer(rng))


def search_url(view: View) -> str:
    """The URL of a results page (query, filters, sort and page in the query string)."""
    params: list[tuple[str, str]] = []
    if view.query:
        params.append(("k", view.query))
    if view.category:
        params.append(("i", view.category))
    f = view.filters
    if f.brand:
        params.append(("rh", f"p_89:{f.brand}"))
    if f.min_price is not None or f.max_price is not None:
        lo = "" if f.min_price is None else f"{f.min_price:g}"
        hi = "" if f.max_price is None else f"{f.max_price:g}"
        params.append(("price", f"{lo}-{hi}"))
    if f.min_rating:
        params.append(("rating", f"{f.min_rating}up"))
    if view.sort != "relevance":
        params.append(("s", view.sort))
    if view.page > 1:
        params.append(("page", str(view.page)))
    return f"{BASE_URL}/s?{urlencode(params)}"


def render_home(view: View, catalog: Catalog, rng: random.Random, deals: list[Product],
                recs: list[Product]) -> tuple[str, str]:
    """Home page: hero ad, deals of the day, recommendations."""
    deal_cards = "".join(_card(p, rng, compact=True) for p in deals)
    rec_cards = "".join(_card(p, rng, compact=True) for p in recs)
    body = (
        f'<div id="pageContent">{layout.ad_slot(rng, "home-hero")}'
        f'<div class="hero"><h1>Spring savings across {len(catalog.categories)} departments</h1></div>'
        f'<section aria-label="Deals of the day"><h2>Deals of the day</h2><div role="list">{deal_cards}</div>'
        f'</section><section aria-label="Recommended for you"><h2>Recommended for you</h2>'
        f'<div role="list">{rec_cards}</div></section></div>'
    )
    return _page(f"{layout.SITE_NAME}.example: Online Shopping", body, view, rng), f"{BASE_URL}/"


def _refinements(view: View, res: SearchResult) -> str:
    f = view.filters
    cats = sorted({p.category for p in res.matched[:40]}) if view.query else []
    dept = "".join(f'<li><a href="/s?i={escape(c)}">{escape(c)}</a></li>' for c in cats[:4])
    stars = ('<a href="#" data-track="ref-rating">4 Stars &amp; Up</a>' if not f.min_rating
             else '<a href="#">Clear rating filter</a>')
    brands = "".join(
        f'<li><a href="#" role="checkbox" aria-checked="{"true" if b == f.brand else "false"}" '
        f'data-track="ref-brand">{escape(b)}</a></li>' for b in res.brands)
    bands = "".join(f'<li><a href="#" data-track="ref-price">{escape(lbl)}</a></li>' for _, _, lbl in PRICE_BANDS)
    clear = '<a href="#" data-track="ref-clear">Clear all filters</a>' if f.active() else ""
    return (
        f'<aside aria-label="Refinements" id="s-refinements">{clear}'
        + (f'<section aria-label="Department"><h3>Department</h3><ul>{dept}</ul></section>' if dept else "")
        + f'<section aria-label="Customer reviews"><h3>Customer Reviews</h3>{stars}</section>'
        f'<section aria-label="Brand"><h3>Brand</h3><ul>{brands}</ul></section>'
        f'<section aria-label="Price"><h3>Price</h3><ul>{bands}</ul>'
        f'<input type="text" aria-label="Min price" placeholder="$ Min" inputmode="numeric">'
        f'<input type="text" aria-label="Max price" placeholder="$ Max" inputmode="numeric">'
        f'<input type="submit" value="Go" aria-label="Apply price range"></section>'
        f'<section aria-label="Delivery"><h3>Delivery</h3><a href="#" role="checkbox" '
        f'aria-checked="{"true" if f.prime else "false"}">Prime eligible</a></section></aside>'
    )


def render_search(view: View, res: SearchResult, rng: random.Random, sponsored: list[Product]) -> tuple[str, str]:
    """Results page: count, sort bar, refinements, product tiles, pagination."""
    q = escape(view.query)
    start = (res.page - 1) * PAGE_SIZE + 1
    if res.total:
        summary = f"{start}-{start + len(res.products) - 1} of {res.total} results"
    else:
        summary = "No results"
    summary += f' for <span class="a-text-bold">"{q}"</span>' if view.query else f" in {escape(view.category or '')}"
    sorts = "".join(
        f'<a href="#" aria-current="{"true" if key == view.sort else "false"}" data-track="sort">{escape(lbl)}</a>'
        for key, lbl in SORTS)
    spell = ""
    if res.suggestion:
        spell = (f'<section aria-label="Did you mean"><span>Did you mean: </span><a href="/s?k='
                 f'{escape(res.suggestion)}" data-track="spell">{escape(res.suggestion)}</a></section>')
    cards = "".join(_card(p, rng, sponsored=True) for p in sponsored) if res.products else ""
    cards += "".join(_card(p, rng) for p in res.products)
    if not res.products:
        cards = ('<div class="s-no-results"><h2>No results for your search query.</h2>'
                 '<p>Try checking your spelling or use more general terms.</p></div>')
    pages = []
    if res.page > 1:
        pages.append('<a href="#" data-track="page-prev">Previous</a>')
    for n in range(1, min(res.n_pages, 5) + 1):
        pages.append(f'<span aria-current="page">{n}</span>' if n == res.page else f'<a href="#">{n}</a>')
    if res.page < res.n_pages:
        pages.append('<a href="#" data-track="page-next">Next</a>')
    ld = json.dumps({"@type": "SearchResultsPage", "numberOfItems": res.total})
    body = (
        f'<div id="search" class="s-main-slot"><div class="s-toolbar"><h1 class="s-result-summary">{summary}</h1>'
        f'<section aria-label="Sort by"><span>Sort by:</span>{sorts}</section></div>{spell}'
        f'{_refinements(view, res)}<section aria-label="Search results"><div role="list">{cards}</div>'
        f'</section>{layout.ad_slot(rng, "search-bottom")}'
        + (f'<nav aria-label="Pagination">{"".join(pages)}</nav>' if res.n_pages > 1 else "")
        + "</div>"
    )
    title = f"{layout.SITE_NAME}.example : {view.query or view.category}"
    return _page(title, body, view, rng, ld), search_url(view)


def _options_html(p: Product, selected: dict[str, str]) -> str:
    out = []
    for dim, choices in p.options.items():
        sel = selected.get(dim, "")
        buttons = "".join(
            f'<li><button type="button" aria-pressed="{"true" if c == sel else "false"}" '
            f'data-track="opt">{escape(c)}</button></li>' for c in choices)
        shown = f"<b>{escape(sel)}</b>" if sel else "<i>Select</i>"
        out.append(f'<section aria-label="{escape(dim)}"><span>{escape(dim)}: {shown}</span><ul>{buttons}</ul></section>')
    return f'<div id="twister">{"".join(out)}</div>' if out else ""


def _reviews_html(p: Product, view: View) -> str:
    shown = shown_reviews(p, view)
    items = "".join(
        f'<article aria-label="Review by {escape(r.author)}"><h4>{r.stars}.0 out of 5 stars '
        f'<span>{escape(r.title)}</span></h4><span class="a-size-base">{escape(r.author)} - Reviewed on '
        f'{r.date}</span>{"<span>Verified Purchase</span>" if r.verified else ""}<p>{escape(r.text)}</p>'
        f'<span>{r.helpful} people found this helpful</span>'
        f'<button type="button" data-track="helpful">Helpful</button><a href="#">Report</a></article>'
        for r in shown)
    if view.review_query and not shown:
        items = f'<p>No reviews mention "{escape(view.review_query)}".</p>'
    more = "" if view.reviews_expanded else '<a href="#" data-track="see-reviews">See more reviews</a>'
    return (f'<section aria-label="Customer reviews" id="customerReviews"><h2>Customer reviews</h2>'
            f'<span>{stars_text(p.rating)}</span><span>{p.review_count:,} global ratings</span>'
            f'<input type="text" aria-label="Search reviews" placeholder="Search customer reviews"'
            f' value="{escape(view.review_query, quote=True)}">{items}{more}</section>')


def render_product(view: View, catalog: Catalog, rng: random.Random, also: list[Product]) -> tuple[str, str]:
    """Product page: title, price, options, buy box, bullets, similar items, reviews."""
    p = catalog.by_id[view.pid or ""]
    crumbs = '<a href="#" data-track="back">Back to results</a>' if view.from_search else ""
    crumbs += f'<a href="#">{escape(p.category)}</a><a href="#">{escape(p.ptype.name.title())}</a>'
    save = (f'<span class="savings">-{round(100 * (1 - p.price / p.list_price))}%</span>'
            f'<span class="a-text-price">List Price: {money(p.list_price)}</span>' if p.list_price > p.price else "")
    bullets = "".join(f"<li>{escape(b)}</li>" for b in p.bullets)
    qty = "".join(f'<option value="{n}">{n}</option>' for n in range(1, 6))
    notice = f'<div class="a-alert" role="alert">{escape(view.notice)}</div>' if view.notice else ""
    also_cards = "".join(_card(q, rng, compact=True) for q in also)
    ld = json.dumps({"@type": "Product", "sku": p.pid, "brand": p.brand,
                     "offers": {"price": p.price, "priceCurrency": "USD"}})
    body = (
        f'<nav aria-label="Breadcrumb">{crumbs}</nav>{notice}<div id="dp" data-asin="{p.pid}">'
        f'<div id="imageBlock"><img src="https://m.shopmart.example/i/{p.pid}._AC_SL1500_.jpg" alt="{escape(p.title, quote=True)}">'
        f'<div class="thumbs" aria-hidden="true"><button>1</button><button>2</button></div></div>'
        f'<section aria-label="Product details"><h1 id="title">{escape(p.title)}</h1>'
        f'<a href="#" data-track="brand">Visit the {escape(p.brand)} Store</a>'
        f'<a href="#customerReviews" data-track="ratings">{stars_text(p.rating)} {p.review_count:,} ratings</a>'
        f'<div class="a-price"><span class="sym">$</span>{p.price:,.2f}</div>{save}'
        f'{_options_html(p, view.selected)}<h2>About this item</h2><ul>{bullets}</ul></section>'
        f'<aside aria-label="Buybox"><div class="a-price">{money(p.price)}</div>'
        f'<div>{"prime " if p.prime else ""}FREE delivery {rng.choice(BUYBOX_DELIVERY)}</div>'
        f'<div class="a-color-success">In Stock</div><form aria-label="Purchase form" method="post" action="/cart/add">'
        f'<input type="hidden" name="asin" value="{p.pid}"><input type="hidden" name="token" value="{layout.session_token(rng)}">'
        f'<select aria-label="Quantity" name="quantity">{qty}</select>'
        f'<input type="submit" aria-label="Add to cart" value="Add to Cart" class="btn-y">'
        f'<input type="submit" aria-label="Buy now" value="Buy Now" class="btn-o"></form>'
        f'<div>Ships from and sold by {layout.SITE_NAME}.example</div><a href="#">Add to List</a></aside></div>'
        f'{layout.ad_slot(rng, "dp-mid")}<section aria-label="Customers also viewed"><h2>Customers who viewed this '
        f'item also viewed</h2><div role="list">{also_cards}</div></section>{_reviews_html(p, view)}'
    )
    url = f"{BASE_URL}{p.url_path}" + ("#customerReviews" if view.reviews_expanded or view.review_query else "")
    return _page(f"{p.title} : {p.category}", body, view, rng, ld), url


def cart_total(view: View, catalog: Catalog) -> tuple[int, float]:
    """Items in the cart and their price."""
    n = sum(line.quantity for line in view.cart)
    return n, round(sum(catalog.by_id[line.pid].price * line.quantity for line in view.cart), 2)


def shipping_and_tax(total: float) -> tuple[float, float]:
    """The checkout's shipping (free from $35) and sales tax on a cart ``total``."""
    return 0.0 if total >= 35 else 5.99, round(total * 0.0625, 2)


def render_cart(view: View, catalog: Catalog, rng: random.Random) -> tuple[str, str]:
    """Cart page: lines with delete / save for later, subtotal, proceed to checkout."""
    lines = []
    for line in view.cart:
        p = catalog.by_id[line.pid]
        opts = "".join(f"<span>{escape(k)}: {escape(v)}</span>" for k, v in line.options.items())
        lines.append(
            f'<li aria-label="{escape(p.short_title, quote=True)}" data-itemid="{layout.session_token(rng)}">'
            f'<a href="{BASE_URL}{p.url_path}" aria-label="Product title">{escape(p.title)}</a>{opts}'
            f'<span class="a-price">{money(p.price)}</span><span>Qty: {line.quantity}</span>'
            f'<input type="submit" value="Delete" aria-label="Delete"><input type="submit" value="Save for later">'
            f'</li>')
    n, total = cart_total(view, catalog)
    notice = f'<div class="a-alert" role="alert">{escape(view.notice)}</div>' if view.notice else ""
    body = (
        f'{notice}<section aria-label="Shopping cart"><h1>Shopping Cart</h1><ul>{"".join(lines)}</ul></section>'
        f'<aside aria-label="Subtotal"><span>Subtotal ({n} item{"s" if n != 1 else ""}): {money(total)}</span>'
        f'<input type="submit" aria-label="Proceed to checkout" value="Proceed to checkout" class="btn-y">'
        f'<a href="/" data-track="continue">Continue shopping</a></aside>{layout.ad_slot(rng, "cart-rail")}'
    )
    return _page(f"{layout.SITE_NAME}.example Shopping Cart", body, view, rng), f"{BASE_URL}/cart"


def render_checkout(view: View, catalog: Catalog, rng: random.Random) -> tuple[str, str]:
    """Checkout page: address, payment, items, promo code, order summary, place order."""
    n, total = cart_total(view, catalog)
    shipping, tax = shipping_and_tax(total)
    items = "".join(f'<li>{escape(catalog.by_id[line.pid].title)} <span>Qty: {line.quantity}</span>'
                    f'<span>{money(catalog.by_id[line.pid].price)}</span></li>' for line in view.cart)
    notice = f'<div class="a-alert" role="alert">{escape(view.notice)}</div>' if view.notice else ""
    d = checkout_draws(rng)
    body = (
        f'<div id="checkout"><h1>Checkout ({n} item{"s" if n != 1 else ""})</h1>{notice}'
        f'<section aria-label="Shipping address"><h2>Shipping address</h2><p>{escape(d.recipient)},'
        f' {d.street_number} Main St</p><a href="#">Change</a></section>'
        f'<section aria-label="Payment method"><h2>Payment method</h2>'
        f'<label><input type="radio" aria-label="Visa ending in {d.card_digits}" checked> Visa</label>'
        f'<label><input type="radio" aria-label="Gift card balance"> Gift card</label></section>'
        f'<section aria-label="Review items"><ul>{items}</ul></section>'
        f'<aside aria-label="Order summary"><form aria-label="Promo"><input type="text" aria-label="Promo code" '
        f'placeholder="Enter code"><input type="submit" value="Apply"></form>'
        f'<div>Items: {money(total)}</div><div>Shipping &amp; handling: {money(shipping)}</div>'
        f'<div>Estimated tax: {money(tax)}</div><div class="total">Order total: {money(total + shipping + tax)}</div>'
        f'<input type="submit" aria-label="Place your order" value="Place your order" class="btn-y"></aside></div>'
    )
    return _page(f"{layout.SITE_NAME}.example Checkout", body, view, rng), f"{BASE_URL}/checkout"
