"""The store's pages written straight in simplified form, without rendering raw HTML first.

The reference for every page is ``simplify(raw)`` of the raw renderer
(:mod:`shop_env.synth.pages`). This module writes the same simplified HTML, the same named
:class:`~shop_env.html.Element` records, and draws the same random numbers in the same
order, for a fraction of the cost: a closed-loop step (``ShopR1Live-v0``) would otherwise
spend three quarters of its time parsing and cleaning markup it had just written.

Names come from the simplifier's own rules (:func:`shop_env.html.naming.slugify`,
:class:`~shop_env.html.naming.NameSet`): the path of meaningful ancestors, the item label
of a repeated item with two or more controls, then the element's own slug, unique in
document order. Noise that simplification removes (head scripts, hidden dialogs, ad slots,
tracking ids) is still drawn, by calling the raw renderer's functions and dropping their
text.

Free text a policy typed (search query, review search, promo code) outside
:data:`PLAIN_TEXT` makes :meth:`shop_env.synth.store.Store.render` take the reference path
instead: escaping and whitespace of arbitrary text are the HTML serializer's business.
``tests/test_synth_direct.py`` checks html, elements and generator state against the
reference over thousands of pages visited by the shopper and by random policies.
"""
from __future__ import annotations

import functools
import random
import re
from typing import Sequence

from shop_env.html import Element
from shop_env.html.clean import trim_block_space
from shop_env.html.elements import collapse
from shop_env.html.naming import NameSet, slugify
from shop_env.synth import layout
from shop_env.synth.catalog import Catalog, Product
from shop_env.synth.layout import SITE_NAME, money, stars_text
from shop_env.synth.pages import (BUYBOX_DELIVERY, CardDraws, View, card_draws, cart_total, checkout_draws,
                                  search_url, shipping_and_tax, shown_reviews)
from shop_env.synth.search import PAGE_SIZE, PRICE_BANDS, SORTS, SearchResult
from shop_env.synth.vocab import CATEGORIES

__all__ = ["PLAIN_TEXT", "is_plain", "home", "search", "product", "cart", "checkout"]

PLAIN_TEXT = re.compile(r"[A-Za-z0-9 .,:;!?$%#@+/()_'\"&<>*=-]*\Z")
"""Characters of free text the direct writer escapes exactly as the serializer does (tested)."""


def is_plain(text: str) -> bool:
    """May the direct writer write ``text`` (ASCII of :data:`PLAIN_TEXT`, single spaces, no edge spaces)?
    Other text goes through the simplifier."""
    return bool(PLAIN_TEXT.match(text)) and "  " not in text and text == text.strip()


def _text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(s: str) -> str:
    """An attribute value with its quotes, as libxml2's HTML serializer writes it."""
    s = _text(s)
    if '"' not in s:
        return f'"{s}"'
    return f"'{s}'" if "'" not in s else '"' + s.replace('"', "&quot;") + '"'


class _Page:
    """Simplified HTML and its named elements, written in document order."""

    __slots__ = ("names", "elements")

    def __init__(self) -> None:
        self.names = NameSet()
        self.elements: list[Element] = []

    def control(self, tag: str, path: Sequence[str], own: str, kind: str, text: str, *, attrs: str = "",
                inner: str | None = None) -> str:
        """One named control: ``<tag attrs name=...>inner</tag>`` (``inner=None``: a void element);
        ``text`` is what its :class:`Element` reports. ``name`` comes last, as the simplifier puts it."""
        name = self.names.unique(".".join((*path, own)))
        self.elements.append(Element(name=name, kind=kind, tag=tag, text=collapse(text)))
        head = f"<{tag}{attrs} name=\"{name}\">"
        return head if inner is None else f"{head}{inner}</{tag}>"

    def link(self, path: Sequence[str], label: str, *, attrs: str = "") -> str:
        """A text link ``<a>label</a>`` named by its text."""
        return self.control("a", path, slugify(label), "click", label, attrs=attrs, inner=_text(label))

    def text_input(self, path: Sequence[str], aria: str, placeholder: str, value: str | None = None) -> str:
        value_attr = "" if value is None else f" value={_attr(value)}"
        return self.control("input", path, slugify(aria), "input", value or placeholder or aria,
                            attrs=f' type="text" aria-label={_attr(aria)} placeholder={_attr(placeholder)}{value_attr}')

    def submit(self, path: Sequence[str], value: str, aria: str | None = None, *, aria_first: bool = False) -> str:
        if aria is None:
            attrs = f' type="submit" value={_attr(value)}'
        elif aria_first:
            attrs = f' type="submit" aria-label={_attr(aria)} value={_attr(value)}'
        else:
            attrs = f' type="submit" value={_attr(value)} aria-label={_attr(aria)}'
        return self.control("input", path, slugify(aria or value), "click", value, attrs=attrs)

    def card(self, section: str, p: Product, d: CardDraws, *, sponsored: bool = False) -> str:
        """A product tile, given its draws (:func:`~shop_env.synth.pages.card_draws`); a compact tile
        has no delivery date."""
        item = slugify(p.short_title)
        at = (section, item) if item else (section,)
        ratings = f"{stars_text(p.rating)} {p.review_count:,} ratings"
        title = _text(p.title)
        out = [f'<div role="listitem" aria-label={_attr(p.short_title)}>',
               "<span>Sponsored</span>" if sponsored else "",
               self.control("a", at, "product_image", "click", "Product image", attrs=' aria-label="Product image"',
                            inner=f"<img alt={_attr(p.title)}>"),
               "<h2>" + self.control("a", at, "product_title", "click", p.title, attrs=' aria-label="Product title"',
                                     inner=f"<span>{title}</span>") + "</h2>",
               f"<div>{self.link(at, ratings)}</div><div><span>$</span>{p.price:,.2f}</div>"]
        if p.list_price > p.price:
            out.append(f"<span>List: {money(p.list_price)}</span>")
        if d.delivery is not None:
            out.append(f'<div>{"<span>prime</span> " if p.prime else ""}FREE delivery {d.delivery}</div>')
            out.append(self.control("button", at, "add_to_cart", "click", "Add to cart", attrs=' type="button"',
                                    inner="Add to cart"))
        out.append("</div>")
        return "".join(out)


# -- chrome: nav bar, department strip, footer ------------------------------------------


@functools.lru_cache(maxsize=512)
def _chrome(query: str, n_cart: int, location: str) -> tuple[str, tuple[Element, ...], str, tuple[Element, ...]]:
    """Top (nav bar + departments) and footer of every page, with their elements.

    Their names (``nav_bar.``, ``categories.``, ``navfooter.``) share no prefix with any
    body section's, so they are unique whatever the body holds."""
    page = _Page()
    at = ("nav_bar",)
    logo = page.control("a", at, "shopmart_home", "click", f"{SITE_NAME} home",
                        attrs=f' aria-label="{SITE_NAME} home"', inner="")
    top = (f'<nav aria-label="Nav bar">{logo}<div><span>Deliver to</span><span>{_text(location)}</span></div>'
           f'<div>{page.text_input(at, "Search input", f"Search {SITE_NAME}", query)}'
           f'{page.submit(at, "Go", "Search button", aria_first=True)}</div>'
           + page.control("a", at, "hello_sign_in_account_lists", "click", "Hello, sign in Account & Lists",
                          inner="Hello, sign in<br>Account &amp; Lists")
           + page.link(at, "Returns & Orders")
           + page.control("a", at, "cart_button", "click", f"{n_cart} Cart", attrs=' aria-label="Cart button"',
                          inner=f"<span>{n_cart}</span> Cart")
           + '</nav><nav aria-label="Categories">'
           + "".join(page.link(("categories",), c) for c in CATEGORIES) + "</nav>")
    top_elements = tuple(page.elements)
    page.elements = []
    at = ("navfooter",)
    foot = (f'<footer>{page.link(at, "Back to top")}<div>{page.link(at, "Careers")}{page.link(at, "Help")}'
            f'{page.link(at, "Returns & Replacements")}</div>'
            f"<p>\u00a9 2025 {SITE_NAME}.example (synthetic store)</p></footer>")
    return top, top_elements, foot, tuple(page.elements)


Rendered = tuple[str, str, list[Element]]


def _finish(page: _Page, rng: random.Random, view: View, title: str, body: str, url: str) -> Rendered:
    """Draw the chrome's noise (the raw page draws it after the body) and assemble the page."""
    layout.head(title, rng, view.kind)
    layout.hidden_noise(rng)
    location = rng.choice(layout.LOCATIONS)
    layout.footer(rng)
    top, top_elements, foot, foot_elements = _chrome(view.query, sum(line.quantity for line in view.cart), location)
    html = f"<html><head><title>{_text(title)}</title></head><body>{top}{body}{foot}</body></html>"
    return (trim_block_space(" ".join(html.split())), url,
            [*top_elements, *page.elements, *foot_elements])


def _alert(view: View) -> str:
    return f'<div role="alert">{_text(view.notice)}</div>' if view.notice else ""


# -- pages ----------------------------------------------------------------------------


def home(view: View, catalog: Catalog, rng: random.Random, deals: list[Product], recs: list[Product]) -> Rendered:
    """As ``simplify(render_home(...))``."""
    page = _Page()
    deal_cards = "".join(page.card("deals_of_the_day", p, card_draws(rng, True)) for p in deals)
    rec_cards = "".join(page.card("recommended_for_you", p, card_draws(rng, True)) for p in recs)
    layout.ad_slot(rng, "home-hero")
    body = (f"<div><h1>Spring savings across {len(catalog.categories)} departments</h1>"
            f'<section aria-label="Deals of the day"><h2>Deals of the day</h2><div role="list">{deal_cards}</div>'
            f'</section><section aria-label="Recommended for you"><h2>Recommended for you</h2>'
            f'<div role="list">{rec_cards}</div></section></div>')
    return _finish(page, rng, view, f"{SITE_NAME}.example: Online Shopping", body, f"{layout.BASE_URL}/")


def _checkbox(checked: bool) -> str:
    return f' role="checkbox" aria-checked="{"true" if checked else "false"}"'


def _refinements(page: _Page, view: View, res: SearchResult) -> str:
    f = view.filters
    at = ("refinements",)
    out = ['<aside aria-label="Refinements">']
    if f.active():
        out.append(page.link(at, "Clear all filters"))
    cats = sorted({p.category for p in res.matched[:40]}) if view.query else []
    if cats[:4]:
        dept = ("refinements", "department")
        out.append('<section aria-label="Department"><h3>Department</h3><ul>'
                   + "".join(f"<li>{page.link(dept, c)}</li>" for c in cats[:4]) + "</ul></section>")
    stars = page.link(("refinements", "customer_reviews"), "Clear rating filter" if f.min_rating else "4 Stars & Up")
    out.append(f'<section aria-label="Customer reviews"><h3>Customer Reviews</h3>{stars}</section>')
    brand = ("refinements", "brand")
    brands = "".join("<li>" + page.link(brand, b, attrs=_checkbox(b == f.brand)) + "</li>" for b in res.brands)
    out.append(f'<section aria-label="Brand"><h3>Brand</h3>{f"<ul>{brands}</ul>" if brands else ""}</section>')
    price = ("refinements", "price")
    bands = "".join(f"<li>{page.link(price, label)}</li>" for _, _, label in PRICE_BANDS)
    out.append(f'<section aria-label="Price"><h3>Price</h3><ul>{bands}</ul>'
               f'{page.text_input(price, "Min price", "$ Min")}{page.text_input(price, "Max price", "$ Max")}'
               f'{page.submit(price, "Go", "Apply price range")}</section>')
    prime = page.link(("refinements", "delivery"), "Prime eligible", attrs=_checkbox(f.prime))
    out.append(f'<section aria-label="Delivery"><h3>Delivery</h3>{prime}</section></aside>')
    return "".join(out)


def search(view: View, res: SearchResult, rng: random.Random, sponsored: list[Product]) -> Rendered:
    """As ``simplify(render_search(...))``."""
    page = _Page()
    start = (res.page - 1) * PAGE_SIZE + 1
    summary = f"{start}-{start + len(res.products) - 1} of {res.total} results" if res.total else "No results"
    summary += (f' for <span>"{_text(view.query)}"</span>' if view.query
                else f" in {_text(view.category or '')}")
    sorts = "".join(page.link(("sort_by",), label, attrs=f' aria-current="{str(key == view.sort).lower()}"')
                    for key, label in SORTS)
    head = f'<div><div><h1>{summary}</h1><section aria-label="Sort by"><span>Sort by:</span>{sorts}</section></div>'
    if res.suggestion:
        head += (f'<section aria-label="Did you mean"><span>Did you mean: </span>'
                 f'{page.link(("did_you_mean",), res.suggestion)}</section>')
    head += _refinements(page, view, res)
    if res.products:
        cards = "".join(page.card("search_results", p, card_draws(rng, False), sponsored=True) for p in sponsored)
        cards += "".join(page.card("search_results", p, card_draws(rng, False)) for p in res.products)
    else:
        cards = ("<div><h2>No results for your search query.</h2>"
                 "<p>Try checking your spelling or use more general terms.</p></div>")
    layout.ad_slot(rng, "search-bottom")
    body = head + f'<section aria-label="Search results"><div role="list">{cards}</div></section>'
    if res.n_pages > 1:
        at = ("pagination",)
        pages = [page.link(at, "Previous")] if res.page > 1 else []
        for n in range(1, min(res.n_pages, 5) + 1):
            pages.append(f'<span aria-current="page">{n}</span>' if n == res.page else page.link(at, str(n)))
        if res.page < res.n_pages:
            pages.append(page.link(at, "Next"))
        body += f'<nav aria-label="Pagination">{"".join(pages)}</nav>'
    body += "</div>"
    return _finish(page, rng, view, f"{SITE_NAME}.example : {view.query or view.category}", body, search_url(view))


def _options(page: _Page, p: Product, selected: dict[str, str]) -> str:
    out = []
    for dim, choices in p.options.items():
        sel = selected.get(dim, "")
        at = ("product_details", slugify(dim, max_words=4, max_chars=30))
        buttons = "".join(
            "<li>" + page.control("button", at, slugify(c), "click", c,
                                  attrs=f' type="button" aria-pressed="{str(c == sel).lower()}"', inner=_text(c))
            + "</li>" for c in choices)
        shown = f"<b>{_text(sel)}</b>" if sel else "<i>Select</i>"
        out.append(f'<section aria-label={_attr(dim)}><span>{_text(dim)}: {shown}</span><ul>{buttons}</ul></section>')
    # the raw page wraps them in one <div>; simplification unwraps it around a single section
    return out[0] if len(out) == 1 else f'<div>{"".join(out)}</div>' if out else ""


def _reviews(page: _Page, p: Product, view: View) -> str:
    shown = shown_reviews(p, view)
    search_box = page.text_input(("customer_reviews",), "Search reviews", "Search customer reviews", view.review_query)
    items = []
    for r in shown:
        label = f"Review by {r.author}"
        at = ("customer_reviews", slugify(label))
        items.append(
            f"<article aria-label={_attr(label)}><h4>{r.stars}.0 out of 5 stars <span>{_text(r.title)}</span></h4>"
            f"<span>{_text(r.author)} - Reviewed on {r.date}</span>"
            f'{"<span>Verified Purchase</span>" if r.verified else ""}<p>{_text(r.text)}</p>'
            f"<span>{r.helpful} people found this helpful</span>"
            + page.control("button", at, "helpful", "click", "Helpful", attrs=' type="button"', inner="Helpful")
            + page.link(at, "Report") + "</article>")
    if view.review_query and not shown:
        items = [f'<p>No reviews mention "{_text(view.review_query)}".</p>']
    more = "" if view.reviews_expanded else page.link(("customer_reviews",), "See more reviews")
    return (f'<section aria-label="Customer reviews"><h2>Customer reviews</h2><span>{stars_text(p.rating)}</span>'
            f"<span>{p.review_count:,} global ratings</span>{search_box}{''.join(items)}{more}</section>")


def product(view: View, catalog: Catalog, rng: random.Random, also: list[Product]) -> Rendered:
    """As ``simplify(render_product(...))``."""
    page = _Page()
    p = catalog.by_id[view.pid or ""]
    also_draws = [card_draws(rng, True) for _ in also]  # drawn before the buy box, shown after it
    crumb = ("breadcrumb",)
    crumbs = page.link(crumb, "Back to results") if view.from_search else ""
    crumbs += page.link(crumb, p.category) + page.link(crumb, p.ptype.name.title())
    save = (f"<span>-{round(100 * (1 - p.price / p.list_price))}%</span>"
            f"<span>List Price: {money(p.list_price)}</span>" if p.list_price > p.price else "")
    bullets = "".join(f"<li>{_text(b)}</li>" for b in p.bullets)
    details = ("product_details",)
    head = (f'<nav aria-label="Breadcrumb">{crumbs}</nav>{_alert(view)}<div><div><img alt={_attr(p.title)}></div>'
            f'<section aria-label="Product details"><h1>{_text(p.title)}</h1>'
            + page.link(details, f"Visit the {p.brand} Store")
            + page.link(details, f"{stars_text(p.rating)} {p.review_count:,} ratings")
            + f"<div><span>$</span>{p.price:,.2f}</div>{save}{_options(page, p, view.selected)}"
            f"<h2>About this item</h2><ul>{bullets}</ul></section>")
    day = rng.choice(BUYBOX_DELIVERY)
    layout.session_token(rng)  # the purchase form's hidden token
    form = ("buybox", "purchase_form")
    quantity = "".join(f'<option value="{n}">{n}</option>' for n in range(1, 6))
    buybox = (f'<aside aria-label="Buybox"><div>{money(p.price)}</div>'
              f'<div>{"prime " if p.prime else ""}FREE delivery {day}</div><div>In Stock</div>'
              '<form aria-label="Purchase form">'
              + page.control("select", form, "quantity", "select", "1 2 3 4 5", attrs=' aria-label="Quantity"',
                             inner=quantity)
              + page.submit(form, "Add to Cart", "Add to cart", aria_first=True)
              + page.submit(form, "Buy Now", "Buy now", aria_first=True)
              + f"</form><div>Ships from and sold by {SITE_NAME}.example</div>"
              + page.link(("buybox",), "Add to List") + "</aside></div>")
    layout.ad_slot(rng, "dp-mid")
    also_cards = "".join(page.card("customers_also_viewed", q, d) for q, d in zip(also, also_draws))
    body = (head + buybox + '<section aria-label="Customers also viewed"><h2>Customers who viewed this item also viewed'
            f'</h2><div role="list">{also_cards}</div></section>' + _reviews(page, p, view))
    url = f"{layout.BASE_URL}{p.url_path}" + ("#customerReviews" if view.reviews_expanded or view.review_query else "")
    return _finish(page, rng, view, f"{p.title} : {p.category}", body, url)


def cart(view: View, catalog: Catalog, rng: random.Random) -> Rendered:
    """As ``simplify(render_cart(...))``."""
    page = _Page()
    lines = []
    for line in view.cart:
        p = catalog.by_id[line.pid]
        layout.session_token(rng)  # the line's item id
        item = slugify(p.short_title)
        at = ("shopping_cart", item) if item else ("shopping_cart",)
        opts = "".join(f"<span>{_text(k)}: {_text(v)}</span>" for k, v in line.options.items())
        lines.append(f"<li aria-label={_attr(p.short_title)}>"
                     + page.control("a", at, "product_title", "click", p.title, attrs=' aria-label="Product title"',
                                    inner=_text(p.title))
                     + f"{opts}<span>{money(p.price)}</span><span>Qty: {line.quantity}</span>"
                     + page.submit(at, "Delete", "Delete") + page.submit(at, "Save for later") + "</li>")
    n, total = cart_total(view, catalog)
    at = ("subtotal",)
    body = (f'{_alert(view)}<section aria-label="Shopping cart"><h1>Shopping Cart</h1>'
            f'{"<ul>" + "".join(lines) + "</ul>" if lines else ""}</section>'
            f'<aside aria-label="Subtotal"><span>Subtotal ({n} item{"s" if n != 1 else ""}): {money(total)}</span>'
            + page.submit(at, "Proceed to checkout", "Proceed to checkout", aria_first=True)
            + page.link(at, "Continue shopping") + "</aside>")
    layout.ad_slot(rng, "cart-rail")
    return _finish(page, rng, view, f"{SITE_NAME}.example Shopping Cart", body, f"{layout.BASE_URL}/cart")


def checkout(view: View, catalog: Catalog, rng: random.Random) -> Rendered:
    """As ``simplify(render_checkout(...))``."""
    page = _Page()
    n, total = cart_total(view, catalog)
    shipping, tax = shipping_and_tax(total)
    d = checkout_draws(rng)
    items = "".join(f"<li>{_text(catalog.by_id[line.pid].title)} <span>Qty: {line.quantity}</span>"
                    f"<span>{money(catalog.by_id[line.pid].price)}</span></li>" for line in view.cart)
    pay = ("payment_method",)
    visa = f"Visa ending in {d.card_digits}"
    summary = ("order_summary",)
    body = (f'<div><h1>Checkout ({n} item{"s" if n != 1 else ""})</h1>{_alert(view)}'
            f'<section aria-label="Shipping address"><h2>Shipping address</h2><p>{_text(d.recipient)}, '
            f'{d.street_number} Main St</p>{page.link(("shipping_address",), "Change")}</section>'
            '<section aria-label="Payment method"><h2>Payment method</h2><label>'
            + page.control("input", pay, slugify(visa), "click", visa,
                           attrs=f' type="radio" aria-label={_attr(visa)} checked')
            + " Visa</label><label>"
            + page.control("input", pay, "gift_card_balance", "click", "Gift card balance",
                           attrs=' type="radio" aria-label="Gift card balance"')
            + " Gift card</label></section>"
            f'<section aria-label="Review items">{"<ul>" + items + "</ul>" if items else ""}</section>'
            '<aside aria-label="Order summary"><form aria-label="Promo">'
            + page.text_input((*summary, "promo"), "Promo code", "Enter code")
            + page.submit((*summary, "promo"), "Apply")
            + f"</form><div>Items: {money(total)}</div><div>Shipping &amp; handling: {money(shipping)}</div>"
            f"<div>Estimated tax: {money(tax)}</div><div>Order total: {money(total + shipping + tax)}</div>"
            + page.submit(summary, "Place your order", "Place your order", aria_first=True) + "</aside></div>")
    return _finish(page, rng, view, f"{SITE_NAME}.example Checkout", body, f"{layout.BASE_URL}/checkout")
