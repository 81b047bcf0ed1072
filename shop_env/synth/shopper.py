"""The human-like shopper as a policy on the store, and the recording of its sessions.

:class:`Shopper` looks at a :class:`~shop_env.synth.store.PageState` (the simplified page
and what the store drew on it), lets :mod:`shop_env.synth.behaviour` decide, and resolves the
decision's target to a named element *of that simplified page*; a target that is not on the
page is a bug and raises :class:`SynthError`. :func:`simulate_session` runs the shopper on
the :class:`~shop_env.synth.store.Store` and records the session: it starts on the home page
and ends with a purchase (the click on "Place your order") or a ``terminate``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from shop_env.actions import TERMINATE, TYPE_AND_SUBMIT, Action
from shop_env.data.model import Session, Step
from shop_env.html import Element
from shop_env.synth import behaviour as B
from shop_env.synth.pages import View
from shop_env.synth.persona import Persona
from shop_env.synth.store import PageState, Store, last_segment_is

MAX_STEPS = 30
# mean seconds spent on a page before acting, by page type
DWELL = {"home": 9.0, "search": 16.0, "product": 28.0, "cart": 8.0, "checkout": 14.0}


class SynthError(RuntimeError):
    """The shopper chose a target that is not a named element of its page (a generator bug)."""


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split())[:200] == " ".join(b.split())[:200]


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
        if target.suffix is not None and not last_segment_is(e.name, target.suffix):
            continue
        if target.text is not None and not _same_text(e.text, target.text):
            continue
        return e.name
    raise SynthError(f"target {target} is not a named element of the page")


def _steps_budget(who: Persona, rng: random.Random) -> int:
    """How many actions this shopper is willing to take before giving up."""
    mean = 0.5 + 5.0 * who.patience ** 1.6
    return 1 + int(rng.expovariate(1.0 / mean))


def _decide(state: PageState, who: Persona, mem: B.Memory, rng: random.Random) -> B.Decision:
    kind = state.view.kind
    if kind == "home":
        return B.on_home(state.view, who, mem, rng, state.products)
    if kind == "search":
        assert state.result is not None
        return B.on_search(state.view, state.result, who, mem, rng)
    if kind == "product":
        assert state.product is not None
        return B.on_product(state.view, state.product, who, mem, rng, state.products)
    if kind == "cart":
        return B.on_cart(state.view, who, mem, rng, state.total)
    return B.on_checkout(state.view, who, mem, rng, state.total)


@dataclass
class Choice:
    """What the shopper would do on a page: the action, why, and its memory if it does it."""

    action: Action
    rationale: str
    memory: B.Memory


class Shopper:
    """One persona's shopper for one session: decides on each page and remembers what happened.

    :meth:`decide` works on a copy of the memory and returns it in the :class:`Choice`;
    :meth:`commit` then records what was *actually* done. When that is the chosen action the
    chosen memory is kept as is; otherwise only what the shopper saw is kept (products
    viewed and shortlisted) and the executed action's own effects are added (reviews read,
    promo code tried, query typed). So the shopper stays a faithful reference human after
    another policy has taken the session elsewhere.
    """

    def __init__(self, persona: Persona, rng: random.Random) -> None:
        self.persona = persona
        self.memory = B.Memory(steps_left=_steps_budget(persona, rng))
        self.n_steps = 0

    def decide(self, state: PageState, rng: random.Random, *, strict: bool = True) -> Choice:
        """The shopper's next action on ``state`` (draws from ``rng``; the memory is not changed).

        ``strict``: a target missing from the page raises :class:`SynthError` (a generator
        bug); otherwise the shopper gives up (``terminate``), which can happen only in states
        the shopper itself never reaches."""
        mem = self.memory.copy()
        if self.n_steps >= MAX_STEPS - 1:
            decision = B.terminate("I've been at this far too long; I'm closing the browser.")
        else:
            decision = _decide(state, self.persona, mem, rng)
        try:
            name = resolve(state.elements, decision.target) if decision.target is not None else ""
        except SynthError:
            if strict:
                raise
            return Choice(Action(TERMINATE), "I can't find what I was looking for on this page, so I'll leave.", mem)
        return Choice(Action(decision.type, name, decision.text), decision.rationale, mem)

    def commit(self, state: PageState, choice: Choice, executed: Action, next_view: View | None) -> None:
        """Record that ``executed`` was done on ``state`` (leading to ``next_view``, None if the
        page did not change or the session ended)."""
        if executed == choice.action:
            self.memory = choice.memory
        else:
            mem = self.memory
            mem.viewed, mem.shortlist = choice.memory.viewed, choice.memory.shortlist
            last = executed.name.rsplit(".", 1)[-1]
            if state.view.kind == "product" and next_view is not None and last in ("see_more_reviews",
                                                                                   "search_reviews"):
                mem.reviews_read.add(state.view.pid or "")
            if state.view.kind == "checkout" and next_view is not None and last == "promo_code":
                mem.promo_tried = True
        self.memory.steps_left -= 1
        self.n_steps += 1
        if executed.type == TYPE_AND_SUBMIT and executed.name.startswith("nav_bar."):
            self.memory.queries.append(executed.text)
        elif (next_view is not None and next_view.kind == "search" and next_view.query
              and next_view.query != state.view.query):
            self.memory.queries.append(next_view.query)


def next_page(store: Store, state: PageState, view: View, rng: random.Random) -> tuple[PageState, float]:
    """Move to ``view``: the time spent on ``state``'s page (seconds, drawn first), then the new page."""
    dwell = DWELL[state.view.kind] * rng.lognormvariate(0.0, 0.5)
    return store.render(view, state.persona, rng, state.last_results), dwell


def simulate_session(store: Store, who: Persona, rng: random.Random, session_id: str, t0: float) -> Session:
    """Play and record one session for persona ``who`` (deterministic given ``rng``'s state):
    the shopper policy run on the store, every draw from the one ``rng``."""
    shopper = Shopper(who, rng)
    state = store.render(View("home"), who, rng)
    steps: list[Step] = []
    t = t0
    while True:
        choice = shopper.decide(state, rng)
        choice.action.validate_recorded()
        steps.append(Step(page_html=state.html, action=choice.action, url=state.url, rationale=choice.rationale,
                          timestamp=round(t, 3), metadata={"page_type": state.view.kind}))
        move = store.transition(state, choice.action)
        if not move.changed:
            raise SynthError(f"the shopper's action {choice.action} did nothing: {move.message}")
        shopper.commit(state, choice, choice.action, move.view)
        if move.view is None:
            break
        state, dwell = next_page(store, state, move.view, rng)
        t += dwell
    return Session(session_id=session_id, steps=steps, user_id=who.user_id, persona=who.to_dict(),
                   source="synthetic", metadata={"synthetic": True, "outcome": move.outcome,
                                                 "n_queries": len(shopper.memory.queries)})


__all__ = ["MAX_STEPS", "Choice", "Shopper", "SynthError", "next_page", "resolve", "simulate_session"]
