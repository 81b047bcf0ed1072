"""The human-like shopper: plays one session on the synthetic store and records it.

Every step renders the raw page, passes it through :func:`shop_env.html.simplify` (the
observation), lets :mod:`shop_env.synth.behaviour` decide, and resolves the decision's target
to a named element *of that simplified page*; a target that is not on the page is a bug and
raises :class:`SynthError`. A session starts on the home page and ends with a purchase
(the click on "Place your order") or a ``terminate``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from shop_env.actions import TERMINATE, TYPE_AND_SUBMIT, Action
from shop_env.data.model import Session, Step
from shop_env.html import Element, simplify
from shop_env.synth import behaviour as B
from shop_env.synth.catalog import Catalog, Product
from shop_env.synth.pages import (View, render_cart, render_checkout, render_home, render_product,
                                  render_search)
from shop_env.synth.persona import Persona
from shop_env.synth.search import SearchEngine

MAX_STEPS = 30
# mean seconds spent on a page before acting, by page type
DWELL = {"home": 9.0, "search": 16.0, "product": 28.0, "cart": 8.0, "checkout": 14.0}


class SynthError(RuntimeError):
    """The shopper chose a target that is not a named element of its page (a generator bug)."""


@dataclass
class Shop:
    """The store a shopper visits: catalogue plus search engine."""

    catalog: Catalog
    engine: SearchEngine

    @classmethod
    def build(cls, catalog: Catalog) -> "Shop":
        return cls(catalog, SearchEngine(catalog))


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split())[:200] == " ".join(b.split())[:200]


def _last_segment_is(name: str, suffix: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    if last == suffix:
        return True
    rest = last[len(suffix) + 1:]
    return last.startswith(suffix + "_") and rest.isdigit()


def resolve(elements: list[Element], target: B.Target) -> str:
    """The name of the element ``target`` describes, among ``elements`` of the simplified page."""
    if target.suffix == "product_image":  # the image link sits in the same tile as the title
        title = resolve(elements, B.Target(target.prefix, suffix="product_title", text=target.text))
        head, _, last = title.rpartition(".")
        image = f"{head}.{last.replace('product_title', 'product_image', 1)}"
        if any(e.name == image for e in elements):
            return image
        raise SynthError(f"no product image next to {title!r}")
    for e in elements:
        if e.kind != target.kind or not e.name.startswith(target.prefix):
            continue
        if target.suffix is not None and not _last_segment_is(e.name, target.suffix):
            continue
        if target.text is not None and not _same_text(e.text, target.text):
            continue
        return e.name
    raise SynthError(f"target {target} is not a named element of the page")


def _steps_budget(who: Persona, rng: random.Random) -> int:
    """How many actions this shopper is willing to take before giving up."""
    mean = 0.5 + 5.0 * who.patience ** 1.6
    return 1 + int(rng.expovariate(1.0 / mean))


def _render(shop: Shop, view: View, who: Persona, rng: random.Random) -> tuple[str, str, dict]:
    cat = shop.catalog
    if view.kind == "home":
        deals = rng.sample(cat.products, 6)
        if rng.random() < 0.3:
            deals[rng.randrange(6)] = rng.choice(cat.by_type[who.need.name])
        pool = cat.by_type[who.need.name] if rng.random() < 0.4 else rng.choice(list(cat.by_type.values()))
        recs = rng.sample(pool, 6)
        raw, url = render_home(view, cat, rng, deals, recs)
        return raw, url, {"deals": deals + recs}
    if view.kind == "search":
        res = shop.engine.search(view.query, view.filters, view.sort, view.page, category=view.category)
        pool = res.matched if len(res.matched) > 12 else cat.products
        sponsored = [pool[rng.randrange(len(pool))] for _ in range(rng.choice((0, 1, 2)))]
        raw, url = render_search(view, res, rng, sponsored)
        return raw, url, {"result": res}
    if view.kind == "product":
        p = cat.by_id[view.pid or ""]
        same = [q for q in cat.by_type[p.ptype.name] if q.pid != p.pid]
        also = rng.sample(same, 4)
        raw, url = render_product(view, cat, rng, also)
        return raw, url, {"product": p, "also": also}
    total = round(sum(cat.by_id[line.pid].price * line.quantity for line in view.cart), 2)
    if view.kind == "cart":
        raw, url = render_cart(view, cat, rng)
    else:
        raw, url = render_checkout(view, cat, rng)
    return raw, url, {"total": total}


def _decide(view: View, info: dict, who: Persona, mem: B.Memory, rng: random.Random) -> B.Decision:
    if view.kind == "home":
        return B.on_home(view, who, mem, rng, info["deals"])
    if view.kind == "search":
        return B.on_search(view, info["result"], who, mem, rng)
    if view.kind == "product":
        return B.on_product(view, info["product"], who, mem, rng, info["also"])
    if view.kind == "cart":
        return B.on_cart(view, who, mem, rng, info["total"])
    return B.on_checkout(view, who, mem, rng, info["total"])


def simulate_session(shop: Shop, who: Persona, rng: random.Random, session_id: str, t0: float) -> Session:
    """Play and record one session for persona ``who`` (deterministic given ``rng``'s state)."""
    mem = B.Memory(steps_left=_steps_budget(who, rng))
    view = View("home")
    steps: list[Step] = []
    t = t0
    while True:
        raw, url, info = _render(shop, view, who, rng)
        page = simplify(raw, url=url, auto_recipe=False)  # no built-in recipe covers this site
        if len(steps) >= MAX_STEPS - 1:
            decision = B.terminate("I've been at this far too long; I'm closing the browser.")
        else:
            decision = _decide(view, info, who, mem, rng)
        mem.steps_left -= 1
        name = resolve(page.elements, decision.target) if decision.target is not None else ""
        action = Action(decision.type, name, decision.text)
        action.validate_recorded()
        steps.append(Step(page_html=page.html, action=action, url=url, rationale=decision.rationale,
                          timestamp=round(t, 3), metadata={"page_type": view.kind}))
        if decision.next_view is None:
            break
        if decision.type == TYPE_AND_SUBMIT and name.startswith("nav_bar."):
            mem.queries.append(decision.text)
        elif decision.next_view.kind == "search" and decision.next_view.query != view.query:
            mem.queries.append(decision.next_view.query)
        t += DWELL[view.kind] * rng.lognormvariate(0.0, 0.5)
        view = decision.next_view
    outcome = decision.outcome or (TERMINATE if decision.type == TERMINATE else "purchase")
    return Session(session_id=session_id, steps=steps, user_id=who.user_id, persona=who.to_dict(),
                   source="synthetic", metadata={"synthetic": True, "outcome": outcome,
                                                 "n_queries": len(mem.queries)})


__all__ = ["MAX_STEPS", "Shop", "SynthError", "resolve", "simulate_session", "Product"]
