"""Search queries a shopper types: first queries from the need, typos, and refinements."""
from __future__ import annotations

import random

from shop_env.synth.persona import Persona

_NEIGHBOURS = {  # adjacent keys on a QWERTY keyboard, for substitution typos
    "a": "sq", "e": "wr", "i": "uo", "o": "ip", "n": "bm", "r": "et", "s": "ad", "t": "ry", "l": "k", "h": "gj",
}


def make_typo(word: str, rng: random.Random) -> str:
    """One keyboard slip in ``word``: swapped, dropped, doubled or neighbouring letter."""
    if len(word) < 4:
        return word
    i = rng.randint(1, len(word) - 2)
    kind = rng.randint(0, 3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    c = word[i]
    return word[:i] + rng.choice(_NEIGHBOURS.get(c, "e")) + word[i + 1:]


def add_typo(query: str, rng: random.Random) -> str:
    """The query with a typo in one of its longer words (unchanged if none is long enough)."""
    words = query.split()
    long_ = [k for k, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long_:
        return query
    k = rng.choice(long_)
    words[k] = make_typo(words[k], rng)
    return " ".join(words)


def base_phrase(persona: Persona, rng: random.Random) -> str:
    """How this shopper names the product they need."""
    pt = persona.need
    return rng.choice((pt.name, pt.name, *pt.synonyms)).lower()


def first_query(persona: Persona, rng: random.Random) -> str:
    """The opening search of a session (no typo; see :func:`add_typo`)."""
    q = base_phrase(persona, rng)
    r = rng.random()
    if persona.loyal and r < 0.45:
        q = f"{persona.brand.lower()} {q}"
    elif persona.wanted and r < 0.65:
        dim, val = next(iter(persona.wanted.items()))
        if dim in ("Color", "Band Color"):
            q = f"{val.lower()} {q}"
        elif dim == "Size" and rng.random() < 0.5:
            q = f"{q} size {val.lower()}"
    elif persona.price_sensitivity > 0.7 and r < 0.8:
        q = f"{q} under {persona.budget:.0f}"
    return q


def refine_query(persona: Persona, previous: str, rng: random.Random, *, too_few: bool) -> str:
    """A follow-up query: broader when results were thin, more specific otherwise."""
    if too_few:
        return base_phrase(persona, rng)
    options = []
    if persona.brand and persona.brand.lower() not in previous:
        options.append(f"{persona.brand.lower()} {base_phrase(persona, rng)}")
    for dim, val in persona.wanted.items():
        if val.lower() not in previous:
            options.append(f"{previous} {val.lower()}")
    attr_name, attr_vals = persona.need.attrs[0]
    options.append(f"{base_phrase(persona, rng)} {rng.choice(attr_vals).lower()}")
    options.append(rng.choice(persona.need.synonyms).lower())
    if "cheap" not in previous and persona.price_sensitivity > 0.5:
        options.append(f"cheap {base_phrase(persona, rng)}")
    choice = rng.choice(options)
    return choice if choice != previous else f"{previous} {rng.choice(persona.need.features).lower()}"
