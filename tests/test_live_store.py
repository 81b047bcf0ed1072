"""The synthetic store as a state machine, and the shopper as a policy on it (issue 18, items 1 and 3)."""
from __future__ import annotations

import random
from urllib.parse import parse_qs, urlparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from shop_env.actions import CLICK, TERMINATE, TYPE_AND_SUBMIT, Action, format_model_output
from shop_env.env import ShopSessionEnv
from shop_env.live import ShopLiveEnv, live_store
from shop_env.paths import sample_data_dir
from shop_env.synth import session_setup
from shop_env.synth.pages import CartLine, View
from shop_env.synth.search import Filters
from shop_env.synth.shopper import Shopper
from shop_env.synth.store import PURCHASE, TERMINATED, PageState, Store


@pytest.fixture(scope="module")
def store() -> Store:
    return live_store(0)


@pytest.fixture(scope="module")
def who():
    return session_setup(0, "test", 3)[0]


def _page(store: Store, who, view: View, seed: int = 0) -> PageState:
    return store.render(view, who, random.Random(seed))


def _go(store: Store, state: PageState, action: Action, seed: int = 1) -> PageState:
    move = store.transition(state, action)
    assert move.changed and move.view is not None, move.message
    return store.render(move.view, state.persona, random.Random(seed), state.last_results)


def _names(state: PageState) -> list[str]:
    return [e.name for e in state.elements]


def _first(state: PageState, suffix: str) -> str:
    return next(n for n in _names(state) if n.endswith(suffix))


def test_search_filters_sort_pagination_change_the_page(store, who):
    home = _page(store, who, View("home"))
    res = _go(store, home, Action(TYPE_AND_SUBMIT, "nav_bar.search_input", "running shoes"))
    assert res.view.kind == "search" and res.view.query == "running shoes"
    assert 'value="running shoes"' in res.html and parse_qs(urlparse(res.url).query)["k"] == ["running shoes"]
    assert res.result is not None and res.result.n_pages >= 2
    by_price = _go(store, res, Action(CLICK, "sort_by.price_low_to_high"))
    prices = [p.price for p in by_price.result.products]
    assert by_price.view.sort == "price-asc" and prices == sorted(prices)
    rated = _go(store, res, Action(CLICK, "refinements.customer_reviews.4_stars_up"))
    assert rated.view.filters.min_rating == 4 and all(p.rating >= 4 for p in rated.result.products)
    assert "refinements.customer_reviews.clear_rating_filter" in _names(rated)
    cleared = _go(store, rated, Action(CLICK, "refinements.customer_reviews.clear_rating_filter"))
    assert cleared.view.filters == Filters()
    brand = next(n for n in _names(res) if n.startswith("refinements.brand."))
    branded = _go(store, res, Action(CLICK, brand))
    assert {p.brand for p in branded.result.products} == {branded.view.filters.brand}
    capped = _go(store, res, Action(TYPE_AND_SUBMIT, "refinements.price.max_price", "$60"))
    assert capped.view.filters.max_price == 60.0 and all(p.price <= 60 for p in capped.result.products)
    band = _go(store, res, Action(CLICK, "refinements.price.50_to_100"))
    assert all(50 <= p.price <= 100 for p in band.result.products)
    page2 = _go(store, res, Action(CLICK, "pagination.next"))
    assert page2.view.page == 2 and page2.result.page == 2
    assert {p.pid for p in page2.result.products}.isdisjoint(p.pid for p in res.result.products)
    assert _go(store, page2, Action(CLICK, "pagination.previous")).view.page == 1
    # a price that is not a number: nothing happens, and the message says so
    for text in ("cheap", "nan", "inf", "1e999", "-20"):
        move = store.transition(res, Action(TYPE_AND_SUBMIT, "refinements.price.max_price", text))
        assert not move.changed and "not a price" in move.message, text


def test_product_options_reviews_cart_checkout_purchase(store, who):
    res = _go(store, _page(store, who, View("home")), Action(TYPE_AND_SUBMIT, "nav_bar.search_input", "running shoes"))
    title = _first(res, ".product_title")
    prod = _go(store, res, Action(CLICK, title))
    p = prod.product
    assert prod.view.kind == "product" and prod.view.from_search and p.title.startswith(
        next(e.text for e in res.elements if e.name == title)[:40])
    image = title.replace("product_title", "product_image")
    assert _go(store, res, Action(CLICK, image)).view.pid == p.pid  # the image opens the same product
    size = next(n for n in _names(prod) if n.startswith("product_details.size."))
    chosen = next(e.text for e in prod.elements if e.name == size)
    sized = _go(store, prod, Action(CLICK, size))
    assert sized.view.selected == {"Size": chosen} and "<b>" + chosen + "</b>" in sized.html
    more = _go(store, sized, Action(CLICK, "customer_reviews.see_more_reviews"))
    assert more.view.reviews_expanded and "customer_reviews.see_more_reviews" not in _names(more)
    back = _go(store, more, Action(CLICK, "breadcrumb.back_to_results"))
    assert back.view == res.view
    cart = _go(store, more, Action(CLICK, "buybox.purchase_form.add_to_cart"))
    assert cart.view.kind == "cart" and [ln.pid for ln in cart.view.cart] == [p.pid]
    assert cart.view.cart[0].options["Size"] == chosen and "Added to Cart" in cart.html
    checkout = _go(store, cart, Action(CLICK, "subtotal.proceed_to_checkout"))
    promo = _go(store, checkout, Action(TYPE_AND_SUBMIT, "order_summary.promo.promo_code", "SAVE10"))
    assert "The promotional code SAVE10 is not valid." in promo.html
    done = store.transition(promo, Action(CLICK, "order_summary.place_your_order"))
    assert done.changed and done.outcome == PURCHASE and done.view is None
    buy_now = _go(store, sized, Action(CLICK, "buybox.purchase_form.buy_now"))
    assert buy_now.view.kind == "checkout" and buy_now.view.cart[0].pid == p.pid
    emptied = _go(store, cart, Action(CLICK, _first(cart, ".delete")))
    assert emptied.view.cart == []
    assert not store.transition(emptied, Action(CLICK, "subtotal.proceed_to_checkout")).changed
    assert _go(store, cart, Action(CLICK, "nav_bar.shopmart_home")).view.kind == "home"
    assert _go(store, prod, Action(CLICK, "nav_bar.cart_button")).view.kind == "cart"
    tile_cart = _go(store, res, Action(CLICK, _first(res, ".add_to_cart")))
    assert tile_cart.view.kind == "cart" and len(tile_cart.view.cart) == 1
    assert store.transition(prod, Action(TERMINATE)).outcome == TERMINATED


def test_actions_that_do_nothing_leave_the_page_and_say_why(store, who):
    home = _page(store, who, View("home"))
    cases = {Action(CLICK, "no.such.element"): "no element named",
             Action(CLICK, "nav_bar.search_input"): "text input",
             Action(TYPE_AND_SUBMIT, "categories.shoes", "x"): "not a text input",
             Action(TYPE_AND_SUBMIT, "nav_bar.search_input", "   "): "empty",
             Action(CLICK, "navfooter.careers"): "does nothing",
             Action(CLICK, ""): "no element named"}
    for action, why in cases.items():
        move = store.transition(home, action)
        assert not move.changed and move.view is None and move.outcome is None and why in move.message, action


@settings(deadline=None, max_examples=40)
@given(data=hst.data())
def test_any_action_on_any_page_never_raises(store, who, data):
    kind = data.draw(hst.sampled_from(["home", "search", "product", "cart", "checkout"]))
    p = store.catalog.products[data.draw(hst.integers(0, len(store.catalog) - 1))]
    from shop_env.synth.pages import CartLine
    view = {"home": View("home"), "search": View("search", query=p.ptype.name),
            "product": View("product", pid=p.pid), "cart": View("cart", cart=[CartLine(p.pid)]),
            "checkout": View("checkout", cart=[CartLine(p.pid)])}[kind]
    state = _page(store, who, view, seed=data.draw(hst.integers(0, 99)))
    names = _names(state) + ["", "nav_bar", "x.y.z"]
    a_type = data.draw(hst.sampled_from([CLICK, TYPE_AND_SUBMIT, TERMINATE]))
    if a_type == TERMINATE:
        action = Action(TERMINATE)
    else:
        name = data.draw(hst.sampled_from(names))
        action = Action(a_type, name, data.draw(hst.text(max_size=20)) if a_type == TYPE_AND_SUBMIT else "")
    move = store.transition(state, action)
    assert move.changed == (move.view is not None or move.outcome is not None)
    if move.view is not None:  # and the next page renders
        assert store.render(move.view, who, random.Random(0), state.last_results).html


def test_live_replay_of_the_shoppers_sessions_gives_identical_prompts_and_gold():
    """A policy that repeats a recorded session's actions in ShopR1Live-v0 sees the prompts that
    ShopR1-v0 shows for it, and the reference human at each state is the recorded action."""
    replay = ShopSessionEnv(sample_data_dir(), split="test")
    live = ShopLiveEnv()
    n_steps = n_purchases = 0
    for i in range(40):
        recorded = replay.store[i]
        k = int(recorded.session_id.rsplit("-", 1)[1])
        obs_r, info_r = replay.reset(options={"session_index": i})
        obs_l, info_l = live.reset(options={"split": "test", "index": k})
        assert info_l["persona"] == recorded.persona
        for step in recorded.steps:
            assert obs_l == obs_r and info_l["messages"] == info_r["messages"]
            assert info_l["gold_action"] == step.action.to_dict()
            out = format_model_output(step.rationale or "", step.action)
            obs_r, rew_r, done_r, _, info_r = replay.step(out)
            obs_l, rew_l, done_l, trunc_l, info_l = live.step(out)
            assert (rew_l, done_l, trunc_l) == (rew_r, done_r, False) and info_l["executed"]
            n_steps += 1
        assert live.session().metadata["outcome"] == recorded.metadata["outcome"]
        assert [s.action for s in live.session().steps] == recorded.actions
        n_purchases += recorded.metadata["outcome"] == PURCHASE
    assert n_steps > 100 and n_purchases >= 2


def test_shopper_memory_follows_what_was_done_not_what_it_chose(store):
    who, rng, _, _ = session_setup(0, "test", 5)
    shopper = Shopper(who, rng)
    state = store.render(View("home"), who, rng)
    choice = shopper.decide(state, rng)
    before = shopper.memory.copy()
    other = Action(TYPE_AND_SUBMIT, "nav_bar.search_input", "something else entirely")
    assert other != choice.action
    move = store.transition(state, other)
    shopper.commit(state, choice, other, move.view)
    assert shopper.memory.queries == before.queries + ["something else entirely"]
    assert shopper.memory.steps_left == before.steps_left - 1 and shopper.n_steps == 1
    # deciding twice from the same state and generator state gives the same choice
    a, b = random.Random(7), random.Random(7)
    assert shopper.decide(state, a) == shopper.decide(state, b)


def test_repeated_tiles_and_cart_lines_have_working_buttons(store, who):
    """A product shown twice gets '_2' buttons; they act like the first copy's."""
    p = store.catalog.products[0]
    cart = _page(store, who, View("cart", cart=[CartLine(p.pid), CartLine(p.pid), CartLine(store.catalog.products[1].pid)]))
    deletes = [n for n in _names(cart) if n.startswith("shopping_cart.") and n.rsplit(".", 1)[-1].startswith("delete")]
    assert any(n.endswith(".delete_2") for n in deletes)
    for name in deletes:
        move = store.transition(cart, Action(CLICK, name))
        assert move.changed and len(move.view.cart) == 2, name
    found = 0
    env = ShopLiveEnv(max_steps=25)
    for seed in range(40):
        _, info = env.reset(seed=seed)
        for _ in range(25):
            state = info["page_state"]
            for name in _names(state):
                if state.view.kind == "search" and name.endswith(".add_to_cart_2"):
                    found += 1
                    assert store.transition(state, Action(CLICK, name)).changed, name
            _, _, terminated, truncated, info = env.step(info["gold_action"])
            if terminated or truncated:
                break
    assert found > 0


def test_the_shoppers_own_action_always_does_something():
    """Wherever a policy leads (here: random clicks half of the time), the reference shopper's
    next action changes the page or ends the session, e.g. not 'proceed to checkout' on an
    empty cart reached through the nav bar."""
    rng = random.Random(0)
    env = ShopLiveEnv(max_steps=12)
    empty_carts = 0
    for seed in range(60):
        _, info = env.reset(seed=seed)
        for _ in range(12):
            state, gold = info["page_state"], Action.from_dict(info["gold_action"])
            if gold.type != TERMINATE:
                move = env.store.transition(state, gold)
                assert move.changed or move.outcome is not None, (seed, gold, move.message)
            empty_carts += state.view.kind == "cart" and not state.view.cart
            action = Action(CLICK, rng.choice(_names(state))) if rng.random() < 0.5 else gold
            if action.type == CLICK and rng.random() < 0.2:
                action = Action(CLICK, "nav_bar.cart_button")
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
    assert empty_carts > 0  # the case under test did occur
