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
