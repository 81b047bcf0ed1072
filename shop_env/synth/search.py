"""Keyword search over the synthetic catalogue: matching, filters, sorting, spelling hints."""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field

from shop_env.synth.catalog import Catalog, Product

_TOKEN_RE = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset({"for", "the", "a", "an", "and", "with", "of", "in", "to", "s", "on", "best", "cheap", "size", "under"})
SORTS: tuple[tuple[str, str], ...] = (
    ("relevance", "Featured"), ("price-asc", "Price: Low to High"), ("price-desc", "Price: High to Low"),
    ("review-rank", "Avg. Customer Review"),
)
PRICE_BANDS: tuple[tuple[float, float | None, str], ...] = (
    (0, 25, "Under $25"), (25, 50, "$25 to $50"), (50, 100, "$50 to $100"), (100, 200, "$100 to $200"),
    (200, None, "$200 & Above"),
)
PAGE_SIZE = 12
MAX_BRANDS = 10  # brand refinements listed on a results page


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens, with a trailing plural ``s`` removed."""
    out = []
    for t in _TOKEN_RE.findall(text.lower()):
        if len(t) > 3 and t.endswith("s") and not t.endswith("ss"):
            t = t[:-1]
        out.append(t)
    return out


@dataclass(frozen=True)
class Filters:
    """Active refinements on a results page."""

    brand: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    min_rating: int | None = None
    prime: bool = False

    def active(self) -> bool:
        return any((self.brand, self.min_price is not None, self.max_price is not None, self.min_rating,
                    self.prime))


@dataclass
class SearchResult:
    """One results page worth of products plus what the page needs to render around them."""

    query: str
    products: list[Product]
    total: int
    page: int
    n_pages: int
    brands: list[str]
    suggestion: str | None = None
    matched: list[Product] = field(default_factory=list)


class SearchEngine:
    """An inverted index over product titles, brands, types and categories."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.index: dict[str, list[int]] = {}
        for i, p in enumerate(catalog.products):
            words = " ".join([p.title, p.brand, p.ptype.name, " ".join(p.ptype.synonyms), p.category,
                              " ".join(p.attributes.values()),
                              " ".join(v for vals in p.options.values() for v in vals)])
            toks = frozenset(tokenize(words))
            p.tokens = toks
            for t in sorted(toks):
                self.index.setdefault(t, []).append(i)
        n = len(catalog.products)
        self.idf = {t: math.log(1 + n / len(ids)) for t, ids in self.index.items()}
        self.vocabulary = sorted(self.index)

    def suggest(self, query: str) -> str | None:
        """A corrected query when some words are unknown and close to known ones, else ``None``."""
        words = query.lower().split()
        changed = False
        out = []
        for w in words:
            core = "".join(_TOKEN_RE.findall(w))
            if core and core not in self.index and core.rstrip("s") not in self.index and core not in STOPWORDS:
                close = difflib.get_close_matches(core, self.vocabulary, n=1, cutoff=0.75)
                if close:
                    out.append(close[0])
                    changed = True
                    continue
            out.append(w)
        return " ".join(out) if changed else None

    def match(self, query: str) -> list[Product]:
        """Products matching most of the query words, best first."""
        toks = [t for t in tokenize(query) if t not in STOPWORDS]
        if not toks:
            return []
        scores: dict[int, float] = {}
        for t in toks:
            for i in self.index.get(t, ()):
                scores[i] = scores.get(i, 0.0) + self.idf[t]
        total = sum(self.idf.get(t, 3.0) for t in toks)
        need = 0.6 * total
        prods = self.catalog.products
        hits = [(s + 0.5 * prods[i].popularity, i) for i, s in scores.items() if s >= need]
        hits.sort(key=lambda x: (-x[0], x[1]))
        return [prods[i] for _, i in hits]

    def search(self, query: str, filters: Filters = Filters(), sort: str = "relevance", page: int = 1,
               *, category: str | None = None) -> SearchResult:
        """Run a search (or browse ``category`` when the query is empty) and cut one page."""
        matched = self.match(query) if query.strip() else (self.catalog.in_category(category or "")
                                                          if category else [])
        if category and query.strip():
            matched = [p for p in matched if p.category == category]
        counts: dict[str, int] = {}
        for p in matched[:60]:
            counts[p.brand] = counts.get(p.brand, 0) + 1
        brands = sorted(sorted(counts, key=lambda b: (-counts[b], b))[:MAX_BRANDS])  # the ones the page lists
        f = filters
        res = [p for p in matched
               if (f.brand is None or p.brand == f.brand)
               and (f.min_price is None or p.price >= f.min_price)
               and (f.max_price is None or p.price <= f.max_price)
               and (f.min_rating is None or p.rating >= f.min_rating)
               and (not f.prime or p.prime)]
        if sort == "price-asc":
            res.sort(key=lambda p: (p.price, p.pid))
        elif sort == "price-desc":
            res.sort(key=lambda p: (-p.price, p.pid))
        elif sort == "review-rank":
            res.sort(key=lambda p: (-p.rating, -p.review_count, p.pid))
        n_pages = max(1, math.ceil(len(res) / PAGE_SIZE))
        page = min(max(1, page), n_pages)
        chunk = res[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        suggestion = self.suggest(query) if query.strip() else None
        return SearchResult(query=query, products=chunk, total=len(res), page=page, n_pages=n_pages,
                            brands=brands, suggestion=suggestion, matched=matched)
