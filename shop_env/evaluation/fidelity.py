"""Session-level fidelity: do a policy's closed-loop sessions look like the humans' sessions?

Six statistics, each compared as distributions over sessions with the Jensen-Shannon
divergence (base 2, so in [0, 1]; 0 = identical distributions) and a percentile bootstrap
interval (sessions resampled with replacement on both sides):

- ``purchase_rate``: purchased or not (Bernoulli).
- ``session_length``: actions taken per session (unparseable outputs included).
- ``action_type_mix``: all actions pooled over {click, type_and_submit, terminate, invalid}.
- ``searches``: executed searches per session (search box submissions and "did you mean"
  clicks).
- ``reformulations``: searches whose query differs from the session's previous query.
- ``products_viewed_before_purchase``: distinct product pages seen before buying, over the
  sessions that bought (a side with no purchase at all is at distance 1 from one with some).

Counts are capped (:data:`COUNT_CAP`, lengths at :data:`LENGTH_CAP`) so each histogram has a
fixed support. ``fidelity_distance`` is the mean of the six distances. JS on finite samples
is biased upward, so two samples of the *same* behaviour give small positive distances;
compare policies evaluated on the same number of episodes. The interval is the spread of
the resampled distance (2.5th to 97.5th percentile), which carries the same upward bias and
so can lie wholly above a near-zero ``distance`` (a sample against itself: 0.0, interval
above 0): read it as how much the distance moves with the sampled sessions, not as a
confidence interval for the population distance.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from shop_env.actions import ACTION_TYPES, CLICK, TYPE_AND_SUBMIT
from shop_env.data.model import Session
from shop_env.synth.store import PURCHASE, slug

STATISTICS: tuple[str, ...] = ("purchase_rate", "session_length", "action_type_mix", "searches",
                               "reformulations", "products_viewed_before_purchase")
TYPE_LABELS: tuple[str, ...] = (*ACTION_TYPES, "invalid")
COUNT_CAP = 10
LENGTH_CAP = 30
SEARCH_BOX = "nav_bar.search_input"


@dataclass(frozen=True)
class SessionFeatures:
    """What the statistics need from one session."""

    purchased: bool
    length: int
    type_counts: tuple[int, int, int, int]  # TYPE_LABELS order
    searches: int
    reformulations: int
    viewed_before_purchase: int  # -1 when the session did not purchase


def session_features(session: Session) -> SessionFeatures:
    """Features of a recorded or live session (live steps carry ``metadata["executed"]``)."""
    counts = [0, 0, 0, int(session.metadata.get("n_invalid", 0))]
    queries: list[str] = []
    viewed: set[str] = set()
    for st in session.steps:
        a = st.action
        counts[ACTION_TYPES.index(a.type)] += 1
        if st.metadata.get("page_type") == "product" and st.url:
            viewed.add(st.url.split("#", 1)[0])
        if not st.metadata.get("executed", True):
            continue
        if a.type == TYPE_AND_SUBMIT and a.name == SEARCH_BOX:
            queries.append(slug(a.text))
        elif a.type == CLICK and a.name.startswith("did_you_mean."):
            queries.append(a.name.rsplit(".", 1)[-1])
    purchased = session.metadata.get("outcome") == PURCHASE
    reform = sum(1 for prev, q in zip(queries, queries[1:]) if q != prev)
    return SessionFeatures(purchased=purchased, length=sum(counts), type_counts=tuple(counts),  # type: ignore[arg-type]
                           searches=len(queries), reformulations=reform,
                           viewed_before_purchase=len(viewed) if purchased else -1)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2) of two count or probability vectors; 1.0 if exactly one is empty."""
    ps, qs = float(p.sum()), float(q.sum())
    if ps == 0 or qs == 0:
        return 0.0 if ps == qs else 1.0
    p, q = p / ps, q / qs
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return max(0.0, min(1.0, 0.5 * kl(p) + 0.5 * kl(q)))


class _Table:
    """Per-session features as arrays, with the histogram of each statistic for any resample."""

    def __init__(self, feats: Sequence[SessionFeatures]) -> None:
        self.n = len(feats)
        self.purchased = np.array([f.purchased for f in feats], dtype=np.int64)
        self.length = np.array([min(f.length, LENGTH_CAP) for f in feats], dtype=np.int64)
        self.types = np.array([f.type_counts for f in feats], dtype=np.int64).reshape(-1, len(TYPE_LABELS))
        self.searches = np.array([min(f.searches, COUNT_CAP) for f in feats], dtype=np.int64)
        self.reform = np.array([min(f.reformulations, COUNT_CAP) for f in feats], dtype=np.int64)
        self.viewed = np.array([min(f.viewed_before_purchase, COUNT_CAP) for f in feats], dtype=np.int64)

    def histogram(self, stat: str, idx: np.ndarray) -> np.ndarray:
        if stat == "purchase_rate":
            return np.bincount(self.purchased[idx], minlength=2)
        if stat == "session_length":
            return np.bincount(self.length[idx], minlength=LENGTH_CAP + 1)
        if stat == "action_type_mix":
            return self.types[idx].sum(axis=0)
        if stat == "searches":
            return np.bincount(self.searches[idx], minlength=COUNT_CAP + 1)
        if stat == "reformulations":
            return np.bincount(self.reform[idx], minlength=COUNT_CAP + 1)
        v = self.viewed[idx]
        return np.bincount(v[v >= 0], minlength=COUNT_CAP + 1)

    def summary(self, stat: str) -> Any:
        """The statistic's headline value on the full sample (a rate, a mean, or type shares)."""
        if self.n == 0:
            return None
        if stat == "purchase_rate":
            return round(float(self.purchased.mean()), 4)
        if stat == "action_type_mix":
            tot = self.types.sum()
            return {t: round(float(c) / tot, 4) if tot else 0.0 for t, c in zip(TYPE_LABELS, self.types.sum(axis=0))}
        if stat == "products_viewed_before_purchase":
            v = self.viewed[self.viewed >= 0]
            return round(float(v.mean()), 3) if v.size else None
        arr = {"session_length": self.length, "searches": self.searches, "reformulations": self.reform}[stat]
        return round(float(arr.mean()), 3)


def fidelity(policy_sessions: Iterable[Session], human_sessions: Iterable[Session], *, n_boot: int = 200,
             seed: int = 0) -> dict[str, Any]:
    """``{"fidelity": {stat: {policy, human, distance, ci_low, ci_high}}, "fidelity_distance": mean}``."""
    pol = _Table([session_features(s) for s in policy_sessions])
    hum = _Table([session_features(s) for s in human_sessions])
    if pol.n == 0 or hum.n == 0:
        raise ValueError(f"fidelity needs sessions on both sides (policy {pol.n}, human {hum.n})")
    rng = np.random.default_rng(seed)
    boots = [(rng.integers(pol.n, size=pol.n), rng.integers(hum.n, size=hum.n)) for _ in range(n_boot)]
    all_p, all_h = np.arange(pol.n), np.arange(hum.n)
    out: dict[str, dict[str, Any]] = {}
    for stat in STATISTICS:
        d = js_divergence(pol.histogram(stat, all_p), hum.histogram(stat, all_h))
        draws = np.array([js_divergence(pol.histogram(stat, i), hum.histogram(stat, j)) for i, j in boots])
        lo, hi = (np.percentile(draws, [2.5, 97.5]) if n_boot else (d, d))
        out[stat] = {"policy": pol.summary(stat), "human": hum.summary(stat), "distance": round(d, 4),
                     "ci_low": round(float(lo), 4), "ci_high": round(float(hi), 4)}
    mean = float(np.mean([out[s]["distance"] for s in STATISTICS]))
    return {"fidelity": out, "fidelity_distance": round(mean, 4), "n_policy_sessions": pol.n,
            "n_human_sessions": hum.n, "distance": "jensen_shannon_base2", "bootstrap": n_boot}


__all__ = ["COUNT_CAP", "LENGTH_CAP", "STATISTICS", "SessionFeatures", "fidelity", "js_divergence",
           "session_features"]
