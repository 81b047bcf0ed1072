"""The direct page writer (shop_env.synth.direct) against its reference, simplify(raw page).

Every page is rendered twice from the same generator state: by the default store (direct)
and by ``Store(direct=False)`` (raw HTML through the simplifier). Html, url, elements and
the generator state afterwards must be equal.
"""
from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from shop_env.actions import Action, format_model_output
from shop_env.live import ShopLiveEnv, live_store
from shop_env.synth import direct, session_setup
from shop_env.synth.pages import CartLine, View
from shop_env.synth.policy import ShopperPolicy
from shop_env.synth.store import Store

TYPED = ["usb cable", "red", "12", "under 25", "it's", "a \"b\"", "x & y", "<b>bold</b>", "SAVE10", "50%",
         "café", "two  spaces", "tab\there", " padded "]


def _reference(store: Store) -> Store:
    return Store(store.catalog, store.engine, direct=False)


def _same(store: Store, ref: Store, view: View, persona, seed_state, last=None):
    fast_rng, ref_rng = random.Random(), random.Random()
    fast_rng.setstate(seed_state)
    ref_rng.setstate(seed_state)
    fast = store.render(view, persona, fast_rng, last)
    slow = ref.render(view, persona, ref_rng, last)
    assert fast.url == slow.url
    assert fast.html == slow.html
    assert fast.elements == slow.elements
    assert fast_rng.getstate() == ref_rng.getstate(), "the direct writer drew different random numbers"
    return fast


@pytest.fixture(scope="module")
def visited():
    """Pages of closed-loop episodes: the shopper on even episodes, a random clicker/typist on odd ones."""
    store = live_store(0)
    ref = _reference(store)
    pages = []
    original = Store.render

    def both(self, view, who, rng, last_results=None):
        state = rng.getstate()
        page = original(self, view, who, rng, last_results)
        pages.append((view, who, state, last_results, page))
        return page

    env, shopper, rng = ShopLiveEnv(), ShopperPolicy(seed=0), random.Random(0)
    Store.render = both
    try:
        for ep in range(160):
            obs, info = env.reset(options={"split": "train", "index": ep})
            done = False
            while not done:
                elements = list(info["elements"])
                if ep % 2 == 0:
                    text = shopper.act([obs], [info])[0]
                elif not elements or rng.random() < 0.04:
                    text = format_model_output("", Action(type="terminate"))
                else:
                    e = rng.choice(elements)
                    action = (Action(type="type_and_submit", name=e.name, text=rng.choice(TYPED))
                              if e.kind == "input" else Action(type="click", name=e.name))
                    text = format_model_output("", action)
                obs, _, terminated, truncated, info = env.step(text)
                done = terminated or truncated
    finally:
        Store.render = original
    return store, ref, pages


def test_direct_pages_equal_simplified_raw_pages_in_closed_loop(visited):
    store, ref, pages = visited
    for view, who, state, last, _ in pages:
        _same(store, ref, view, who, state, last)
    assert len(pages) > 1000


def test_closed_loop_pages_cover_every_part_of_the_store(visited):
    """The equality above means little if the episodes never reach a part of the store."""
    _, _, pages = visited
    kinds = Counter(view.kind for view, *_ in pages)
    assert set(kinds) == {"home", "search", "product", "cart", "checkout"}
    names = {e.name for *_, page in pages for e in page.elements}
    for wanted in ("did_you_mean.", "pagination.previous", "pagination.next", "refinements.clear_all_filters",
                   "refinements.customer_reviews.clear_rating_filter", "refinements.department.",
                   "customer_reviews.see_more_reviews", "shopping_cart.", "payment_method.visa_ending_in_"):
        assert any(n.startswith(wanted) for n in names), wanted
    htmls = [page.html for *_, page in pages]
    assert any("<span>Sponsored</span>" in h for h in htmls)
    assert any('aria-checked="true"' in h for h in htmls)
    assert any('aria-pressed="true"' in h for h in htmls)
    assert any("No reviews mention" in h for h in htmls)
    assert any("No results for your search query." in h for h in htmls)
    products = [view for view, *_ in pages if view.kind == "product"]
    assert any(len(store_product.options) >= 2 for store_product in
               (live_store(0).catalog.by_id[v.pid] for v in products))
    assert any(v.reviews_expanded for v in products)


@pytest.mark.parametrize("typed", TYPED)
def test_typed_text_is_written_as_the_serializer_writes_it(typed):
    """Free text lands in an attribute, a heading, the title and the url; odd text takes the reference path."""
    store = live_store(0)
    ref = _reference(store)
    who = session_setup(0, "train", 3)[0]
    p = store.catalog.products[7]
    views = [View("search", query=typed), View("product", pid=p.pid, review_query=typed, query=typed),
             View("checkout", cart=[CartLine(p.pid, 2)], notice=f"The promotional code {typed} is not valid."),
             View("cart", cart=[CartLine(p.pid)], query=typed)]
    for i, view in enumerate(views):
        _same(store, ref, view, who, random.Random(i).getstate())


def test_repeated_names_get_the_same_suffixes():
    store = live_store(0)
    who = session_setup(0, "train", 3)[0]
    p = store.catalog.products[7]
    page = _same(store, _reference(store), View("cart", cart=[CartLine(p.pid), CartLine(p.pid, 3)]), who,
                 random.Random(0).getstate())
    assert sum(bool(re.search(r"\.delete_2$", e.name)) for e in page.elements) == 1


def test_plain_text_rule():
    assert direct.is_plain("wireless earbuds under 25")
    assert direct.is_plain('a "quoted" <tag> & more')
    assert not direct.is_plain("two  spaces")
    assert not direct.is_plain(" padded")
    assert not direct.is_plain("café")
    assert not direct.is_plain("line\nbreak")
