"""The synthetic store as a state machine: a page state plus any action gives the next page.

:class:`Store` renders a :class:`~shop_env.synth.pages.View` into a :class:`PageState` (the
simplified page, its named elements, and the products drawn on it; written directly by
:mod:`shop_env.synth.direct`, equal to the raw page passed through
:func:`shop_env.html.simplify`, which ``Store(direct=False)`` does), and
:meth:`Store.transition` maps a state and *any* :class:`~shop_env.actions.Action` of the
task's schema to what happens next (:class:`Transition`): a new view to render, the end of
the session (terminate, or a purchase by "Place your order"), or nothing, with a message
saying why (an element that is not on the page, a click on a text box, typing into a button,
an element the store does not act on). It never raises on an action.

Everything the page shows is decided here (search, filters, sort, pagination, options,
reviews, cart, checkout); the shopper (:mod:`shop_env.synth.shopper`) only chooses actions.
Rendering draws page noise and the products on show from the ``rng`` it is given, so the
same generator state gives the same page.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from typing import Any

from shop_env.actions import TERMINATE, TYPE_AND_SUBMIT, Action
from shop_env.html import Element, simplify
from shop_env.synth import direct
from shop_env.synth.catalog import Catalog, Product
from shop_env.synth.pages import (CartLine, View, cart_total, render_cart, render_checkout, render_home, render_product,
                                  render_search)
from shop_env.synth.persona import Persona
from shop_env.synth.search import PRICE_BANDS, SORTS, Filters, SearchEngine, SearchResult

PURCHASE = "purchase"
TERMINATED = "terminate"
_SORT_BY_LABEL = {label: key for key, label in SORTS}
_BAND_BY_LABEL = {label: (lo, hi) for lo, hi, label in PRICE_BANDS}


def _norm(text: str) -> str:
    return " ".join(text.split())[:200]


def slug(text: str) -> str:
    """The simplifier-style slug of a label (``"Band Color"`` -> ``band_color``)."""
    return "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split())



def last_segment_is(name: str, suffix: str) -> bool:
    """Does ``name`` end in ``.suffix``, or ``.suffix_N`` (the naming of a repeated element,
    e.g. the second tile of one product)?"""
    last = name.rsplit(".", 1)[-1]
    if last == suffix:
        return True
    rest = last[len(suffix) + 1:]
    return last.startswith(suffix + "_") and rest.isdigit()

@dataclass
class PageState:
    """One rendered page: what is on screen and where the shopper came from.

    ``html``/``url``/``elements`` are the observation (simplified page); ``view`` is what
    the store drew it from; ``products`` the products shown (home: deals then
    recommendations; search: the result tiles; product: the "also viewed" tiles; cart: the
    cart lines); ``result`` the search result (search pages); ``last_results`` the latest
    results page of the session (where "Back to results" leads).
    """

    view: View
    persona: Persona
    html: str
    url: str
    elements: list[Element]
    products: list[Product] = field(default_factory=list)
    result: SearchResult | None = None
    product: Product | None = None
    total: float = 0.0
    last_results: View | None = None

    def element(self, name: str) -> Element | None:
        """The named element ``name`` of this page, or None."""
        for e in self.elements:
            if e.name == name:
                return e
        return None


@dataclass(frozen=True)
class Transition:
    """What an action does: ``view`` to render next, or ``outcome`` (session over), or neither.

    ``changed`` is False when the page stays as it is; ``message`` says what happened.
    """

    changed: bool
    message: str
    view: View | None = None
    outcome: str | None = None


class Store:
    """Catalogue plus search engine, with rendering and the transition function."""

    def __init__(self, catalog: Catalog, engine: SearchEngine | None = None, *, direct: bool = True) -> None:
        self.catalog = catalog
        self.engine = engine or SearchEngine(catalog)
        self.direct = direct

    @classmethod
    def build(cls, catalog: Catalog, *, direct: bool = True) -> "Store":
        return cls(catalog, direct=direct)

    # -- rendering ----------------------------------------------------------------------
    def render(self, view: View, who: Persona, rng: random.Random, last_results: View | None = None) -> PageState:
        """Draw ``view`` (page noise and products on show from ``rng``) as a simplified page.

        With ``direct`` (the default) the simplified page is written straight away
        (:mod:`shop_env.synth.direct`); otherwise, or when the view holds free text the
        direct writer leaves to the serializer, the raw page is rendered and passed through
        :func:`shop_env.html.simplify`. Both give the same page and draw the same numbers."""
        cat = self.catalog
        extra: dict[str, Any] = {}
        if view.kind == "home":
            deals = rng.sample(cat.products, 6)
            if rng.random() < 0.3:
                deals[rng.randrange(6)] = rng.choice(cat.by_type[who.need.name])
            pool = cat.by_type[who.need.name] if rng.random() < 0.4 else rng.choice(list(cat.by_type.values()))
            recs = rng.sample(pool, 6)
            writers, args = (render_home, direct.home), (view, cat, rng, deals, recs)
            extra["products"] = deals + recs
        elif view.kind == "search":
            res = self.engine.search(view.query, view.filters, view.sort, view.page, category=view.category)
            pool = res.matched if len(res.matched) > 12 else cat.products
            sponsored = [pool[rng.randrange(len(pool))] for _ in range(rng.choice((0, 1, 2)))]
            writers, args = (render_search, direct.search), (view, res, rng, sponsored)
            extra.update(result=res, products=(sponsored if res.products else []) + res.products)
            last_results = view
        elif view.kind == "product":
            p = cat.by_id[view.pid or ""]
            same = [q for q in cat.by_type[p.ptype.name] if q.pid != p.pid]
            also = rng.sample(same, 4)
            writers, args = (render_product, direct.product), (view, cat, rng, also)
            extra.update(product=p, products=also)
        else:
            extra["total"] = cart_total(view, cat)[1]
            extra["products"] = [cat.by_id[line.pid] for line in view.cart]
            writers = (render_cart, direct.cart) if view.kind == "cart" else (render_checkout, direct.checkout)
            args = (view, cat, rng)
        if self.direct and direct.is_plain(view.query) and direct.is_plain(view.review_query) \
                and direct.is_plain(view.notice):
            html, url, elements = writers[1](*args)
        else:
            raw, url = writers[0](*args)
            page = simplify(raw, url=url, auto_recipe=False)  # no built-in recipe covers this site
            html, elements = page.html, page.elements
        return PageState(view=view, persona=who, html=html, url=url, elements=elements,
                         last_results=last_results, **extra)

    # -- transitions --------------------------------------------------------------------
    def transition(self, state: PageState, action: Action) -> Transition:
        """What ``action`` does on ``state``'s page. Never raises."""
        if action.type == TERMINATE:
            return Transition(True, "closed the browser", outcome=TERMINATED)
        el = state.element(action.name)
        if el is None:
            return Transition(False, f"no element named {action.name!r} on this page; page unchanged")
        if action.type == TYPE_AND_SUBMIT:
            if el.kind != "input":
                return Transition(False, f"{action.name!r} is not a text input; page unchanged")
            if not action.text.strip():
                return Transition(False, "submitted an empty text; page unchanged")
            return self._submit(state, action.name, action.text.strip())
        if el.kind == "input":
            return Transition(False, f"clicked into the text input {action.name!r}; page unchanged")
        return self._click(state, action.name, el.text)

    def _submit(self, state: PageState, name: str, text: str) -> Transition:
        v = state.view
        last = name.rsplit(".", 1)[-1]
        if name == "nav_bar.search_input":
            return Transition(True, f"searched for {text!r}", View("search", query=text, cart=v.cart))
        if v.kind == "search" and last in ("max_price", "min_price"):
            try:
                amount = float(text.replace("$", "").replace(",", ""))
            except ValueError:
                amount = math.nan
            if not (math.isfinite(amount) and amount >= 0):
                return Transition(False, f"{text!r} is not a price; page unchanged")
            f = replace(v.filters, **{last: amount})
            return Transition(True, f"set the {last.replace('_', ' ')} to {amount:g}",
                              replace(v, filters=f, page=1))
        if v.kind == "product" and last == "search_reviews":
            return Transition(True, f"searched the reviews for {text!r}", replace(v, review_query=text, notice=""))
        if v.kind == "checkout" and last == "promo_code":
            return Transition(True, f"tried the promo code {text!r}",
                              replace(v, notice=f"The promotional code {text} is not valid."))
        return Transition(False, f"typing into {name!r} does nothing here; page unchanged")

    def _product_of(self, state: PageState, name: str, text: str) -> Product | None:
        """The product a title or image link shows (an image is matched through its title)."""
        head, _, last = name.rpartition(".")
        if last.startswith("product_image"):
            title = state.element(f"{head}.{last.replace('product_image', 'product_title', 1)}")
            if title is None:
                return None
            text = title.text
        want = _norm(text)
        return next((p for p in state.products if _norm(p.title) == want), None)

    def _click(self, state: PageState, name: str, text: str) -> Transition:
        v, cat = state.view, self.catalog
        section, last = name.split(".", 1)[0], name.rsplit(".", 1)[-1]
        if last.startswith(("product_title", "product_image")):
            p = self._product_of(state, name, text)
            if p is not None:
                return Transition(True, f"opened {p.short_title!r}",
                                  View("product", pid=p.pid, from_search=v.kind == "search", query=v.query,
                                       cart=v.cart))
        if section == "categories" and text in cat.categories:
            return Transition(True, f"browsed the {text} department", View("search", category=text, cart=v.cart))
        if last_segment_is(last, "add_to_cart") and v.kind != "product":  # the button on a results tile
            title = state.element(name.rsplit(".", 1)[0] + ".product_title")
            p = self._product_of(state, title.name, title.text) if title is not None else None
            if p is not None:
                line = CartLine(p.pid, 1, {dim: choices[0] for dim, choices in p.options.items()})
                return Transition(True, f"added {p.short_title!r} to the cart",
                                  View("cart", cart=v.cart + [line], notice="Added to Cart"))
        if name == "nav_bar.shopmart_home" or name == "subtotal.continue_shopping":
            return Transition(True, "went to the home page", View("home", cart=v.cart))
        if name == "nav_bar.cart_button":
            return Transition(True, "opened the cart", View("cart", cart=v.cart))
        handler = {"search": self._click_search, "product": self._click_product, "cart": self._click_cart,
                   "checkout": self._click_checkout}.get(v.kind)
        result = handler(state, name, text) if handler is not None else None
        return result or Transition(False, f"clicking {name!r} does nothing in this store; page unchanged")

    def _click_search(self, state: PageState, name: str, text: str) -> Transition | None:
        v, f = state.view, state.view.filters
        res = state.result
        assert res is not None
        parts = name.split(".")
        if parts[0] == "did_you_mean":
            return Transition(True, f"searched for the suggestion {text!r}", View("search", query=text, cart=v.cart))
        if parts[0] == "sort_by" and text in _SORT_BY_LABEL:
            return Transition(True, f"sorted by {text}", replace(v, sort=_SORT_BY_LABEL[text], page=1))
        if parts[0] == "pagination":
            target = {"next": res.page + 1, "previous": res.page - 1}.get(parts[-1])
            if target is None and text.strip().isdigit():
                target = int(text)
            if target is not None and 1 <= target <= res.n_pages and target != res.page:
                return Transition(True, f"went to results page {target}", replace(v, page=target))
            return None
        if parts[0] != "refinements" or len(parts) < 2:
            return None
        group = parts[1]
        if group == "clear_all_filters":
            return Transition(True, "cleared all filters", replace(v, filters=Filters(), page=1))
        if group == "brand" and text in res.brands:
            brand = None if f.brand == text else text
            return Transition(True, f"{'set' if brand else 'cleared'} the brand filter",
                              replace(v, filters=replace(f, brand=brand), page=1))
        if group == "price" and text in _BAND_BY_LABEL:
            lo, hi = _BAND_BY_LABEL[text]
            return Transition(True, f"filtered the price to {text}",
                              replace(v, filters=replace(f, min_price=float(lo), max_price=hi), page=1))
        if group == "customer_reviews":
            rating = 4 if text == "4 Stars & Up" else None if text == "Clear rating filter" else -1
            if rating != -1:
                return Transition(True, f"{'set' if rating else 'cleared'} the rating filter",
                                  replace(v, filters=replace(f, min_rating=rating), page=1))
        if group == "delivery" and parts[-1] == "prime_eligible":
            return Transition(True, "toggled Prime eligible", replace(v, filters=replace(f, prime=not f.prime), page=1))
        if group == "department" and text in self.catalog.categories:
            return Transition(True, f"limited the results to {text}", replace(v, category=text, page=1))
        return None

    def _click_product(self, state: PageState, name: str, text: str) -> Transition | None:
        v, p = state.view, state.product
        assert p is not None
        parts = name.split(".")
        if name == "breadcrumb.back_to_results" and state.last_results is not None:
            return Transition(True, "went back to the results", replace(state.last_results, cart=v.cart))
        if parts[0] == "product_details" and len(parts) == 3:
            dim = next((d for d in p.options if slug(d) == parts[1]), None)
            if dim is not None and text in p.options[dim]:
                return Transition(True, f"selected {dim} {text}",
                                  replace(v, selected={**v.selected, dim: text}, notice=""))
        if name == "customer_reviews.see_more_reviews":
            return Transition(True, "expanded the reviews", replace(v, reviews_expanded=True, notice=""))
        if parts[:2] == ["buybox", "purchase_form"] and parts[-1] in ("add_to_cart", "buy_now"):
            keep = {dim: v.selected.get(dim) or p.options[dim][0] for dim in p.options}
            cart = v.cart + [CartLine(p.pid, 1, keep)]
            if parts[-1] == "buy_now":
                return Transition(True, f"chose Buy Now for {p.short_title!r}", View("checkout", cart=cart))
            return Transition(True, f"added {p.short_title!r} to the cart",
                              View("cart", cart=cart, notice="Added to Cart"))
        return None

    def _click_cart(self, state: PageState, name: str, text: str) -> Transition | None:
        v = state.view
        if name == "subtotal.proceed_to_checkout":
            if not v.cart:
                return Transition(False, "the cart is empty; page unchanged")
            return Transition(True, "proceeded to checkout", View("checkout", cart=v.cart))
        if name.startswith("shopping_cart.") and last_segment_is(name, "delete"):
            title = state.element(name.rsplit(".", 1)[0] + ".product_title")
            p = self._product_of(state, title.name, title.text) if title is not None else None
            if p is not None:
                i = next(i for i, line in enumerate(v.cart) if line.pid == p.pid)
                return Transition(True, f"removed {p.short_title!r} from the cart",
                                  View("cart", cart=v.cart[:i] + v.cart[i + 1:]))
        return None

    def _click_checkout(self, state: PageState, name: str, text: str) -> Transition | None:
        if name == "order_summary.place_your_order":
            if not state.view.cart:
                return Transition(False, "nothing to order; page unchanged")
            return Transition(True, "placed the order", outcome=PURCHASE)
        return None


__all__ = ["PURCHASE", "TERMINATED", "PageState", "Store", "Transition", "slug"]
