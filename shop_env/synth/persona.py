"""Shopper personas: who is shopping, for what, with which budget, brand taste and patience."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from shop_env.synth.vocab import CONSUMABLE_CATEGORIES, PRODUCT_TYPES, ProductType, with_article

# Occupation -> plausible age range; the age is drawn within it.
OCCUPATION_AGES: dict[str, tuple[int, int]] = {
    "nurse": (23, 64), "software engineer": (22, 62), "teacher": (24, 65), "graduate student": (22, 34),
    "retired accountant": (58, 80), "graphic designer": (21, 60), "barista": (18, 40),
    "small business owner": (26, 70), "sales manager": (27, 63), "electrician": (20, 64),
    "stay-at-home parent": (22, 55), "college student": (18, 25), "data analyst": (22, 58),
    "chef": (20, 62), "truck driver": (21, 66),
}
OCCUPATIONS = tuple(OCCUPATION_AGES)
PURPOSES = ("for everyday use", "as a gift", "to replace an old one", "for home")
CONSUMABLE_PURPOSES = ("to restock", "for everyday use", "to try something new")
INTENTS = ("buy", "research", "browse")  # ready to buy today / comparing for later / just looking


@dataclass
class Persona:
    """Stable traits of a user plus the concrete need of one session."""

    user_id: str
    age: int
    occupation: str
    need: ProductType
    purpose: str
    budget: float
    brand: str | None
    brand_loyalty: float       # 0 indifferent .. 1 buys only that brand
    price_sensitivity: float   # 0 ignores price .. 1 hunts for the cheapest
    patience: float            # 0 gives up quickly .. 1 explores at length
    min_rating: float
    intent: str
    wanted: dict[str, str] = field(default_factory=dict)  # option dimension -> wanted choice

    @property
    def loyal(self) -> bool:
        return self.brand is not None and self.brand_loyalty >= 0.6

    def description(self) -> str:
        """A short natural-language description (what a persona survey would say)."""
        bits = [f"A {self.age}-year-old {self.occupation} shopping for {with_article(self.need)} {self.purpose}."]
        bits.append(f"Budget: about ${self.budget:.0f}"
                    + (", and very price-conscious." if self.price_sensitivity > 0.66 else
                       ", but will pay more for quality." if self.price_sensitivity < 0.33 else "."))
        if self.brand and self.brand_loyalty >= 0.6:
            bits.append(f"Strongly prefers {self.brand}.")
        elif self.brand:
            bits.append(f"Likes {self.brand} but is open to other brands.")
        if self.wanted:
            bits.append("Wants " + " and ".join(f"{k.lower()} {v}" for k, v in self.wanted.items()) + ".")
        bits.append(f"Only considers products rated {self.min_rating:.1f} stars or more.")
        bits.append({"buy": "Intends to buy today.", "research": "Is comparing options and may buy later.",
                     "browse": "Is mostly browsing."}[self.intent])
        bits.append("Very patient when shopping." if self.patience > 0.66 else
                    "Gets impatient quickly." if self.patience < 0.33 else "Moderately patient.")
        return " ".join(bits)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored as ``Session.persona``."""
        return {
            "description": self.description(), "age": self.age, "occupation": self.occupation,
            "need": {"category": self.need.category, "product_type": self.need.name, "purpose": self.purpose,
                     "wanted_options": dict(self.wanted)},
            "budget": self.budget, "preferred_brand": self.brand, "brand_loyalty": round(self.brand_loyalty, 2),
            "price_sensitivity": round(self.price_sensitivity, 2), "patience": round(self.patience, 2),
            "min_rating": self.min_rating, "intent": self.intent,
        }


def _nice_budget(x: float) -> float:
    steps = (10, 15, 20, 25, 30, 35, 40, 50, 60, 75, 80, 100, 120, 150, 200, 250, 300)
    return float(min(steps, key=lambda s: abs(s - x)))


@dataclass
class UserTraits:
    """What stays the same for one user across sessions."""

    user_id: str
    age: int
    occupation: str
    price_sensitivity: float
    patience: float
    picky: float


def make_user(rng: random.Random, user_id: str) -> UserTraits:
    """Draw a user's stable traits."""
    occupation = rng.choice(OCCUPATIONS)
    return UserTraits(user_id=user_id, age=rng.randint(*OCCUPATION_AGES[occupation]), occupation=occupation,
                      price_sensitivity=rng.betavariate(2, 2), patience=rng.betavariate(1.6, 2.4),
                      picky=rng.random())


def make_persona(rng: random.Random, user: UserTraits) -> Persona:
    """Draw one session's persona for ``user``: a concrete need, budget, brand taste."""
    need = rng.choice(PRODUCT_TYPES)
    budget = _nice_budget(need.price * (1.5 - 0.7 * user.price_sensitivity) * rng.lognormvariate(0, 0.25))
    brand = rng.choice(need.brands) if rng.random() < 0.45 else None
    loyalty = rng.betavariate(2, 2) if brand else 0.0
    wanted: dict[str, str] = {}
    for dim, choices in need.options:
        if dim == "Size" or rng.random() < 0.4:
            wanted[dim] = rng.choice(choices)
    intent = rng.choices(INTENTS, weights=(0.42, 0.36, 0.22))[0]
    return Persona(user_id=user.user_id, age=user.age, occupation=user.occupation, need=need,
                   purpose=rng.choice(CONSUMABLE_PURPOSES if need.category in CONSUMABLE_CATEGORIES else PURPOSES), budget=budget, brand=brand, brand_loyalty=loyalty,
                   price_sensitivity=user.price_sensitivity, patience=user.patience,
                   min_rating=round(3.3 + 1.0 * user.picky, 1), intent=intent, wanted=wanted)


class PersonaError(ValueError):
    """A persona that does not fit the synthetic store's catalogue; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"persona field {field!r}: {message}")


def _number(d: dict[str, Any], key: str, lo: float, hi: float, default: float | None = None) -> float:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PersonaError(key, f"must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise PersonaError(key, f"must be in [{lo}, {hi}], got {value!r}")
    return float(value)


def persona_from_dict(d: dict[str, Any], user_id: str = "live-user") -> Persona:
    """A :class:`Persona` from its :meth:`Persona.to_dict` form (as stored in a session).

    Raises :class:`PersonaError` naming the field when it does not fit the catalogue: an
    unknown product type or category, a wanted option the product type does not have, a
    preferred brand that does not make that product type, a non-positive budget, an
    unknown intent, traits outside [0, 1].
    """
    if isinstance(d, Persona):
        return d
    if not isinstance(d, dict):
        raise PersonaError("persona", f"must be a dict (Persona.to_dict() form), got {type(d).__name__}")
    need = d.get("need")
    if not isinstance(need, dict):
        raise PersonaError("need", f"must be a dict with product_type, got {need!r}")
    by_name = {pt.name: pt for pt in PRODUCT_TYPES}
    pt = by_name.get(need.get("product_type"))  # type: ignore[arg-type]
    if pt is None:
        raise PersonaError("need.product_type", f"{need.get('product_type')!r} is not sold in this store; "
                                                f"choose from {sorted(by_name)}")
    if need.get("category") not in (None, pt.category):
        raise PersonaError("need.category", f"{pt.name!r} is in {pt.category!r}, not {need.get('category')!r}")
    wanted = need.get("wanted_options") or {}
    options = dict(pt.options)
    if not isinstance(wanted, dict):
        raise PersonaError("need.wanted_options", f"must be a dict, got {wanted!r}")
    for dim, val in wanted.items():
        if dim not in options:
            raise PersonaError("need.wanted_options", f"{pt.name!r} has no option {dim!r}; it has {sorted(options)}")
        if val not in options[dim]:
            raise PersonaError("need.wanted_options", f"{dim} {val!r} is not offered for {pt.name!r}; "
                                                      f"choose from {list(options[dim])}")
    brand = d.get("preferred_brand")
    if brand is not None and brand not in pt.brands:
        raise PersonaError("preferred_brand", f"{brand!r} does not make {pt.name!r}; brands: {list(pt.brands)}")
    intent = d.get("intent", "buy")
    if intent not in INTENTS:
        raise PersonaError("intent", f"must be one of {INTENTS}, got {intent!r}")
    occupation = d.get("occupation", "teacher")
    age = int(_number(d, "age", 13, 120, 35))
    budget = _number(d, "budget", 0.01, 1e6)
    purpose = d.get("purpose") or need.get("purpose") or PURPOSES[0]
    return Persona(user_id=user_id, age=age, occupation=str(occupation), need=pt, purpose=str(purpose),
                   budget=budget, brand=brand, brand_loyalty=_number(d, "brand_loyalty", 0, 1, 0.0),
                   price_sensitivity=_number(d, "price_sensitivity", 0, 1, 0.5),
                   patience=_number(d, "patience", 0, 1, 0.5), min_rating=_number(d, "min_rating", 1, 5, 3.5),
                   intent=intent, wanted=dict(wanted))
