"""The seeded product catalogue of the synthetic store.

:func:`build_catalog` makes the same products for the same seed: for every product type in
:mod:`shop_env.synth.vocab` a few dozen products, each with a title, brand, attributes,
purchase options, price, rating, review count and review texts.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

from shop_env.synth import vocab
from shop_env.synth.vocab import PRODUCT_TYPES, ProductType

PRODUCTS_PER_TYPE = 44
_SLUG_RE = re.compile(r"[^a-z0-9]+")
_ALNUM = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_BULLET_TAILS = ("built for everyday use", "a customer favourite", "designed and tested in-house", "great value")


def slugify(text: str, max_words: int | None = None) -> str:
    """Lower-case ``text`` with runs of other characters replaced by ``-``."""
    words = [w for w in _SLUG_RE.split(text.lower()) if w]
    if max_words:
        words = words[:max_words]
    return "-".join(words)


@dataclass(frozen=True)
class Review:
    """One customer review."""

    author: str
    stars: int
    title: str
    text: str
    date: str
    verified: bool
    helpful: int


@dataclass
class Product:
    """One product of the catalogue."""

    pid: str
    ptype: ProductType
    brand: str
    title: str
    price: float
    list_price: float
    rating: float
    review_count: int
    attributes: dict[str, str]
    options: dict[str, list[str]]
    bullets: list[str]
    reviews: list[Review]
    popularity: float
    prime: bool
    tokens: frozenset[str] = field(default_factory=frozenset)

    @property
    def category(self) -> str:
        return self.ptype.category

    @property
    def slug(self) -> str:
        return slugify(self.title, max_words=8)

    @property
    def url_path(self) -> str:
        return f"/{self.slug}/dp/{self.pid}"

    @property
    def short_title(self) -> str:
        """The title up to its first comma (how people refer to a product)."""
        return self.title.split(",")[0]


def _titlecase(name: str) -> str:
    return " ".join(w if w[:1].isupper() else w[:1].upper() + w[1:] for w in name.split())


def _price(rng: random.Random, median: float, factor: float) -> float:
    raw = median * factor * math.exp(rng.gauss(0.0, 0.35))
    return max(1.0, round(raw)) - 0.01 if raw >= 5 else round(raw, 2)


def _review(rng: random.Random, pt: ProductType, stars: int) -> Review:
    aspect = rng.choice(pt.aspects)
    aspect2 = rng.choice([a for a in pt.aspects if a != aspect])
    if stars >= 4:
        verdict = rng.choice(vocab.GOOD_PHRASES)
        title = rng.choice(("Love it", "Great value", "Does the job", "Highly recommend", "Five stars",
                            "Exactly what I needed"))
        extra = rng.choice((f"The {aspect2} is good too.", f"Only small complaint is the {aspect2}.",
                            "Would buy again.", "Arrived quickly and well packaged."))
    elif stars == 3:
        verdict = rng.choice(vocab.OK_PHRASES)
        title = rng.choice(("It's okay", "Mixed feelings", "Average", "Decent"))
        extra = rng.choice((f"But the {aspect2} could be better.", "Not sure I would buy it again.",
                            f"The {aspect2} is hit or miss."))
    else:
        verdict = rng.choice(vocab.BAD_PHRASES)
        title = rng.choice(("Disappointed", "Not worth it", "Returned it", "Stopped working"))
        extra = rng.choice((f"The {aspect2} is also bad.", "I returned it after a week.",
                            "Save your money.", f"Had problems with the {aspect2} from day one."))
    text = f"The {aspect} {verdict}. {extra}"
    date = f"{rng.choice(('January', 'March', 'May', 'July', 'September', 'November'))} {rng.randint(1, 28)}, 2024"
    return Review(author=rng.choice(vocab.REVIEWER_NAMES), stars=stars, title=title, text=text, date=date,
                  verified=rng.random() < 0.85, helpful=int(rng.expovariate(0.2)))


def _make_product(rng: random.Random, pt: ProductType, index: int, used_titles: set[str]) -> Product:
    brand = pt.brands[index % len(pt.brands)] if index < len(pt.brands) else rng.choice(pt.brands)
    tier = rng.random()  # 0 budget .. 1 premium
    attrs = {name: rng.choice(values) for name, values in pt.attrs}
    options: dict[str, list[str]] = {}
    for dim, choices in pt.options:
        k = rng.randint(max(1, len(choices) // 2), len(choices))
        picked = sorted(rng.sample(range(len(choices)), k))
        options[dim] = [choices[i] for i in picked]
    feats = rng.sample(pt.features, min(len(pt.features), rng.randint(2, 3)))
    base = f"{brand} {rng.choice(vocab.LINE_NAMES)}"
    first_attr = next(iter(attrs.values())) if attrs else ""
    title = f"{base} {feats[0]} {_titlecase(pt.name)}, {', '.join(feats[1:] + [first_attr])}"
    n = 2
    while title.split(",")[0] in used_titles:  # short titles (up to the first comma) are unique too
        title = f"{base} {n} {feats[0]} {_titlecase(pt.name)}, {', '.join(feats[1:] + [first_attr])}"
        n += 1
    used_titles.add(title.split(",")[0])
    for dim, chosen in options.items():
        if dim.endswith("Color") and chosen:
            attrs["color"] = chosen[0]
    price = _price(rng, pt.price, 0.6 + 0.9 * tier)
    list_price = round(price * rng.uniform(1.1, 1.45), 0) - 0.01 if rng.random() < 0.35 else price
    quality = min(1.0, max(0.0, 0.55 * tier + 0.45 * rng.random()))
    rating = round(min(5.0, max(1.8, rng.gauss(3.3 + 1.5 * quality, 0.3))), 1)
    review_count = max(1, int(math.exp(rng.gauss(4.5 + 1.5 * quality, 1.4))))
    n_reviews = min(review_count, rng.randint(4, 6))
    reviews = []
    for _ in range(n_reviews):
        stars = min(5, max(1, round(rng.gauss(rating, 1.1))))
        reviews.append(_review(rng, pt, stars))
    reviews.sort(key=lambda r: -r.helpful)
    bullets = [f"{f.upper()}: {f} {pt.name} from {brand}, {rng.choice(_BULLET_TAILS)}." for f in feats]
    bullets += [f"{k.upper()}: {v}." for k, v in attrs.items()]
    pid = "B0" + "".join(rng.choice(_ALNUM) for _ in range(8))
    return Product(pid=pid, ptype=pt, brand=brand, title=title, price=price, list_price=list_price,
                   rating=rating, review_count=max(review_count, n_reviews), attributes=attrs,
                   options=options, bullets=bullets, reviews=reviews,
                   popularity=quality * 0.5 + rng.random() * 0.5, prime=rng.random() < 0.6)


class Catalog:
    """All products, indexed by id and by product type."""

    def __init__(self, products: list[Product]) -> None:
        self.products = products
        self.by_id = {p.pid: p for p in products}
        self.by_type: dict[str, list[Product]] = {}
        for p in products:
            self.by_type.setdefault(p.ptype.name, []).append(p)
        self.categories = list(vocab.CATEGORIES)

    def __len__(self) -> int:
        return len(self.products)

    def in_category(self, category: str) -> list[Product]:
        return [p for p in self.products if p.category == category]


def build_catalog(seed: int, products_per_type: int = PRODUCTS_PER_TYPE) -> Catalog:
    """Build the catalogue for ``seed`` (same seed, same products, on every machine)."""
    rng = random.Random(f"catalog:{seed}")
    used: set[str] = set()
    products: list[Product] = []
    seen_ids: set[str] = set()
    for pt in PRODUCT_TYPES:
        for i in range(products_per_type):
            p = _make_product(rng, pt, i, used)
            while p.pid in seen_ids:
                p.pid = "B0" + "".join(rng.choice(_ALNUM) for _ in range(8))
            seen_ids.add(p.pid)
            products.append(p)
    return Catalog(products)
