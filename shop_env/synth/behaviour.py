"""What the synthetic shopper does on each kind of page, and why (first-person rationale).

Each ``on_<page>`` function looks at what is on screen (the :class:`~shop_env.synth.pages.View`
and the products drawn on it) and at the persona and history, and returns a
:class:`Decision`: the action, the element it targets (by section and visible text, resolved
to the simplifier's name later) and the rationale. What the action does to the page is the
store's business (:mod:`shop_env.synth.store`), not the shopper's.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from shop_env.actions import CLICK, TERMINATE, TYPE_AND_SUBMIT
from shop_env.synth import queries
from shop_env.synth.catalog import Product
from shop_env.synth.pages import View
from shop_env.synth.persona import Persona
from shop_env.synth.search import PRICE_BANDS, SearchResult
from shop_env.synth.store import slug
from shop_env.synth.vocab import plural, with_article


@dataclass(frozen=True)
class Target:
    """Which element: kind, name prefix, optional name suffix, optional visible text."""

    prefix: str
    kind: str = "click"
    suffix: str | None = None
    text: str | None = None


@dataclass
class Decision:
    """One step: action type, target, typed text and rationale."""

    type: str
    rationale: str
    target: Target | None = None
    text: str = ""


@dataclass
class Memory:
    """What the shopper remembers within a session."""

    steps_left: int
    queries: list[str] = field(default_factory=list)
    viewed: list[str] = field(default_factory=list)
    shortlist: list[str] = field(default_factory=list)
    reviews_read: set[str] = field(default_factory=set)
    promo_tried: bool = False

    def copy(self) -> "Memory":
        """An independent copy (deciding on a copy leaves this memory as it was)."""
        return Memory(self.steps_left, list(self.queries), list(self.viewed), list(self.shortlist),
                      set(self.reviews_read), self.promo_tried)


def _w(rng: random.Random, options: list[tuple[float, object]]):
    weights = [max(0.0, w) for w, _ in options]
    return rng.choices([o for _, o in options], weights=weights)[0]


def problems_with(p: Product, who: Persona, *, on_tile: bool = False) -> list[str]:
    """Reasons this product does not suit the persona (empty list: it fits).

    ``on_tile``: judge only what a results tile shows (type, price, brand, rating); whether
    the wanted size or colour exists is only seen on the product page.
    """
    why = []
    if p.ptype is not who.need:
        why.append(f"it is {with_article(p.ptype)}, not the {who.need.name} I need")
    if p.price > who.budget * (1.0 + 0.25 * (1 - who.price_sensitivity)):
        why.append(_over(p, who))
    if who.loyal and p.brand != who.brand:
        why.append(f"it is {p.brand}, and I really prefer {who.brand}")
    if p.rating < who.min_rating:
        why.append(f"{p.rating:.1f} stars is below what I'm comfortable with")
    for dim, val in who.wanted.items():
        if not on_tile and dim in p.options and val not in p.options[dim]:
            why.append(f"it doesn't come in {dim.lower()} {val}")
    return why


def _over(p: Product, who: Persona) -> str:
    return f"${p.price:.2f} is more than my budget of about ${who.budget:.0f}"


def utility(p: Product, who: Persona) -> float:
    """How attractive a fitting product looks from its tile."""
    u = p.rating + 0.15 * (p.review_count ** 0.25) - who.price_sensitivity * 2.0 * p.price / max(who.budget, 1)
    if p.brand == who.brand:
        u += 1.5 * who.brand_loyalty
    return u


def terminate(reason: str) -> Decision:
    """Close the browser without buying."""
    return Decision(TERMINATE, reason)


def search_box(text: str, rationale: str) -> Decision:
    """Type ``text`` into the top search bar and submit."""
    return Decision(TYPE_AND_SUBMIT, rationale, Target("nav_bar.", "input", "search_input"), text)


def _new_query(view: View, who: Persona, mem: Memory, rng: random.Random, why: str) -> Decision:
    prev = mem.queries[-1] if mem.queries else ""
    q = queries.refine_query(who, prev, rng, too_few=False) if prev else queries.first_query(who, rng)
    if rng.random() < 0.08:
        q = queries.add_typo(q, rng)
    return search_box(q, f"{why} I'll search for '{q}' instead.")


def on_home(view: View, who: Persona, mem: Memory, rng: random.Random, deals: list[Product]) -> Decision:
    need = with_article(who.need)
    match = [p for p in deals if p.ptype is who.need and not problems_with(p, who, on_tile=True)]
    r = rng.random()
    if r < 0.02:
        return terminate(f"I was going to look for {need}, but I don't have time right now; I'll come back later.")
    if match and r < 0.10:
        p = match[0]
        return Decision(CLICK, f"The {p.short_title} on the home page is {need} at ${p.price:.2f}, within my "
                               f"${who.budget:.0f} budget, so I'll take a look.",
                        Target("", suffix="product_title", text=p.title))
    if r < 0.15:
        cat = who.need.category
        return Decision(CLICK, f"I'll start by browsing the {cat} department to find {need}.",
                        Target("categories.", text=cat))
    q = queries.first_query(who, rng)
    if rng.random() < 0.16:
        q = queries.add_typo(q, rng)
    why = rng.choice((f"I need {need} {who.purpose}, so I'll search for '{q}'.",
                      f"I'm looking for {need}; searching '{q}' should show me the options.",
                      f"Let me type '{q}' into the search bar to find {need}."))
    return search_box(q, why)


def _leave_results(relevant: list[Product], good: list[Product], who: Persona, rng: random.Random) -> str:
    """Why a shopper who has run out of patience leaves a results page."""
    need = plural(who.need)
    if good:
        p = good[0]
        return rng.choice((f"The {p.short_title} looks okay, but I've spent enough time on this for now.",
                           f"I've seen what's out there; the {p.short_title} at ${p.price:.2f} is noted, and I'll "
                           f"decide another day.",
                           f"I only wanted a quick look at prices for {need}; I'll come back when I'm ready to buy."))
    if relevant and min(p.price for p in relevant) > who.budget:
        return f"Even the cheapest {need} here cost more than my ${who.budget:.0f} budget, so I'll look elsewhere."
    return rng.choice((f"None of these {need} fit what I want, so I'll give up for today.",
                       "I'm not finding anything that fits my budget and needs; I'm done."))


def _open(p: Product, section: str, rng: random.Random, why: str) -> Decision:
    suffix = "product_image" if rng.random() < 0.1 else "product_title"
    return Decision(CLICK, why, Target(section, suffix=suffix, text=p.title))


def on_search(view: View, res: SearchResult, who: Persona, mem: Memory, rng: random.Random) -> Decision:
    need = plural(who.need)
    relevant = [p for p in res.products if p.ptype is who.need]
    fresh = [p for p in relevant if p.pid not in mem.viewed]
    good = sorted((p for p in fresh if not problems_with(p, who, on_tile=True)), key=lambda p: -utility(p, who))
    # slightly over budget but otherwise fine: tempting enough to open now and then
    stretch = [p for p in fresh if p.price <= 1.4 * who.budget
               and problems_with(p, who, on_tile=True) == [_over(p, who)]]
    if mem.steps_left <= 0:
        return terminate(_leave_results(relevant, good, who, rng))
    if res.suggestion and (not res.products or len(relevant) < 3):
        if rng.random() < 0.5:
            return Decision(CLICK, f"I misspelled my search; the site suggests '{res.suggestion}', so I'll click that.",
                            Target("did_you_mean.", text=res.suggestion))
        q = res.suggestion
        return search_box(q, f"Oops, I made a typo in '{view.query}'. Let me retype it as '{q}'.")
    if not res.products or (view.query and not relevant):
        return _new_query(view, who, mem, rng, f"These results don't show any {need}.")
    if not view.query:  # category browsing
        if good and rng.random() < 0.3:
            return _open(good[0], "search_results.", rng,
                         f"The {good[0].short_title} in this department looks like what I need.")
        return _new_query(view, who, mem, rng, f"Scrolling the whole {view.category} department is slow.")
    f = view.filters
    options: list[tuple[float, str]] = [(2.6 if good else 0.0, "open")]
    over = sum(p.price > who.budget for p in relevant)
    options.append((1.6 if who.loyal and who.brand in res.brands and f.brand is None else 0.0, "brand"))
    options.append((1.4 * who.price_sensitivity if over >= max(2, len(relevant) // 3)
                    and f.max_price is None else 0.0, "price"))
    options.append((0.5 * who.price_sensitivity if view.sort == "relevance" else 0.0, "sort"))
    options.append((0.35 * who.min_rating - 1.2 if not f.min_rating else 0.0, "rating"))
    options.append((1.2 + (1.5 if len(relevant) < 4 else 0.0) + (0.8 if not good else 0.0), "refine"))
    options.append((1.6 * who.patience if not good and res.page < res.n_pages else 0.0, "next"))
    options.append((0.8 * (1 - who.price_sensitivity) if stretch else 0.0, "stretch"))
    choice = _w(rng, options)
    if choice == "stretch":
        p = stretch[0]
        return _open(p, "search_results.", rng,
                     f"The {p.short_title} is ${p.price:.2f}, a bit over my ${who.budget:.0f} budget, but with "
                     f"{p.rating:.1f} stars it might be worth it; let me look.")
    if choice == "open":
        p = good[0] if rng.random() < 0.8 or len(good) == 1 else good[1]
        bits = [f"the {p.short_title} is ${p.price:.2f}", f"rated {p.rating:.1f} stars by {p.review_count:,} people"]
        if p.brand == who.brand:
            bits.append(f"and it's from {who.brand}, a brand I like")
        return _open(p, "search_results.", rng,
                     rng.choice(("Among these results, ", "Scanning the list, ", "This one catches my eye: "))
                     + ", ".join(bits) + ", so I'll open it.")
    if choice == "brand":
        return Decision(CLICK, rng.choice((f"I trust {who.brand}, so I'll filter the results to that brand.",
                                    f"I'd rather stick with {who.brand}; let me tick it in the brand filter.",
                                    f"{who.brand} is listed under Brand, and it's the one I usually buy, so I'll "
                                    f"filter by it.")),
                        Target("refinements.brand.", text=who.brand))
    if choice == "price":
        if rng.random() < 0.5:
            text = f"{who.budget:.0f}"
            return Decision(TYPE_AND_SUBMIT, f"{over} of these are over my ${who.budget:.0f} budget, so I'll set a "
                                             f"maximum price of ${text}.",
                            Target("refinements.price.", "input", "max_price"), text)
        lo, hi, label = next(b for b in PRICE_BANDS if b[1] is None or who.budget <= b[1])
        return Decision(CLICK, f"Too many of these cost more than I want to spend; I'll narrow it to {label}.",
                        Target("refinements.price.", text=label))
    if choice == "sort":
        return Decision(CLICK, rng.choice(("I want to see the cheapest options first, so I'll sort by price from low to high.",
                                    f"Price matters most to me with a ${who.budget:.0f} budget; sorting low to high.")),
                        Target("sort_by.", suffix="price_low_to_high"))
    if choice == "rating":
        return Decision(CLICK, rng.choice((f"I only want well-reviewed {need}, so I'll filter to 4 stars and up.",
                                    "Some of these have mediocre ratings; I'll keep only 4 stars and up.")),
                        Target("refinements.customer_reviews.", text="4 Stars & Up"))
    if choice == "next":
        return Decision(CLICK, rng.choice((f"Nothing on page {res.page} fits, so I'll check the next page of results.",
                                    f"I've already looked at the good ones on this page; let me see page "
                                    f"{res.page + 1}.")),
                        Target("pagination.", suffix="next"))
    if len(relevant) < 4:
        why = f"Only {len(relevant)} of these results are actually {need}."
    elif good:
        why = rng.choice(("These results are too broad for what I have in mind.",
                          "I'd like to see a few more options before I pick one.",
                          f"A more specific search might surface better {need}."))
    else:
        why = rng.choice((f"None of these {need} match my budget and preferences.",
                          f"The {need} here are either too pricey or not rated well enough."))
    return _new_query(view, who, mem, rng, why)


def on_product(view: View, p: Product, who: Persona, mem: Memory, rng: random.Random,
               also: list[Product]) -> Decision:
    if p.pid not in mem.viewed:
        mem.viewed.append(p.pid)
    problems = problems_with(p, who)
    if mem.steps_left <= 0 and not (who.intent == "buy" and not problems):
        return terminate(f"I've looked at enough for today; the {p.short_title} isn't convincing me right now.")
    if problems:
        why = f"The {p.short_title} won't work: {problems[0]}."
        alt = [q for q in also if q.ptype is who.need and not problems_with(q, who) and q.pid not in mem.viewed]
        choice = _w(rng, [(1.4 if view.from_search else 0.0, "back"), (1.4, "query"),
                          (1.0 if alt else 0.0, "also"), (0.6 * (1 - who.patience), "quit")])
        if choice == "back":
            return Decision(CLICK, f"{why} I'll go back to the results.", Target("breadcrumb.", suffix="back_to_results"))
        if choice == "also":
            q = alt[0]
            return Decision(CLICK, f"{why} The {q.short_title} under 'Customers also viewed' is ${q.price:.2f} and "
                                   f"rated {q.rating:.1f}, so I'll check it.",
                            Target("customers_also_viewed.", suffix="product_title", text=q.title))
        if choice == "quit":
            return terminate(f"{why} I'm tired of searching, so I'll stop here.")
        return _new_query(view, who, mem, rng, why)
    if p.pid not in mem.reviews_read and rng.random() < 0.3 + 0.35 * (who.min_rating - 3.3):
        mem.reviews_read.add(p.pid)
        if rng.random() < 0.3:
            aspect = rng.choice(p.ptype.aspects)
            return Decision(TYPE_AND_SUBMIT, f"Before deciding on the {p.short_title}, I want to know what buyers "
                                             f"say about the {aspect}.",
                            Target("customer_reviews.", "input", "search_reviews"), aspect)
        return Decision(CLICK, rng.choice((f"It has {p.rating:.1f} stars from {p.review_count:,} ratings, but I'd like to "
                                     f"read more reviews before I commit.",
                                     f"The price is right, but I want to see what other buyers say about the "
                                     f"{p.short_title} first.")),
                        Target("customer_reviews.", suffix="see_more_reviews"))
    for dim, val in who.wanted.items():
        if dim in p.options and view.selected.get(dim) != val:
            return Decision(CLICK, rng.choice((f"I need {dim.lower()} {val}, so I'll select it.",
                                          f"{val} is available, which is the {dim.lower()} I want; selecting it.")),
                            Target(f"product_details.{slug(dim)}.", text=val))
    if p.pid not in mem.shortlist:
        mem.shortlist.append(p.pid)
    if who.intent != "buy" and len(mem.shortlist) < 2 and view.from_search \
            and rng.random() < 0.3 + 0.5 * who.patience:
        return Decision(CLICK, f"The {p.short_title} at ${p.price:.2f} is a candidate, but I want to compare it with "
                               f"other options first.", Target("breadcrumb.", suffix="back_to_results"))
    buy_p = {"buy": 0.92, "research": 0.4, "browse": 0.25}[who.intent]
    if rng.random() > buy_p:
        return terminate(rng.choice((f"The {p.short_title} looks good, but I'll think about it and come back later.",
                                     f"I'll remember the {p.short_title} at ${p.price:.2f}, but I'm not buying today.")))
    why = f"The {p.short_title} is ${p.price:.2f}, rated {p.rating:.1f} stars, and it has what I need"
    if who.intent == "buy" and rng.random() < 0.4:
        return Decision(CLICK, f"{why}. I'll buy it now.", Target("buybox.purchase_form.", suffix="buy_now"))
    return Decision(CLICK, f"{why}, so I'll add it to my cart.",
                    Target("buybox.purchase_form.", suffix="add_to_cart"))


def on_cart(view: View, who: Persona, mem: Memory, rng: random.Random, total: float) -> Decision:
    if not view.cart:  # reached through the nav bar with nothing in it: back to searching
        return _new_query(view, who, mem, rng, "My cart is empty, so there is nothing to check out.")
    go = {"buy": 0.9, "research": 0.35, "browse": 0.25}[who.intent]
    if rng.random() < go:
        return Decision(CLICK, rng.choice((f"My cart subtotal is ${total:.2f}, which works for me, so I'll proceed to checkout.",
                                    f"The item is in my cart at ${total:.2f}; time to check out.")),
                        Target("subtotal.", suffix="proceed_to_checkout"))
    return terminate(f"I'll leave the item in my cart (${total:.2f}) and decide later.")


def on_checkout(view: View, who: Persona, mem: Memory, rng: random.Random, total: float) -> Decision:
    if not mem.promo_tried and rng.random() < 0.12:
        mem.promo_tried = True
        code = rng.choice(("SAVE10", "WELCOME15", "SPRING20", "FREESHIP"))
        return Decision(TYPE_AND_SUBMIT, f"Before paying, I'll try the promo code {code} I saw somewhere.",
                        Target("order_summary.", "input", "promo_code"), code)
    if total > who.budget * 1.5 and rng.random() < 0.5:
        return terminate(f"The order total of ${total:.2f} is more than I planned to spend, so I'll leave.")
    if rng.random() < 0.06:
        return terminate("I'm having second thoughts about this purchase; I'll close the page.")
    return Decision(CLICK, rng.choice((f"Everything looks right and the total is ${total:.2f}; I'll place my order.",
                                 f"The address and card are correct and ${total:.2f} is fine, so I'll place the "
                                 f"order.")),
                    Target("order_summary.", suffix="place_your_order"))
