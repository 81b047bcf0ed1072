"""Session-level fidelity beyond next-action accuracy (issue 8, item 3).

All functions take the runner's per-step records (dicts with ``session_id``,
``step_index``, ``n_steps``, ``gold``, ``pred_type``, ``exact``, ``gold_outcome``,
``pred_outcome``) and are pure.

- **Steps matched before the first miss** (the ``until_mismatch`` view): in teacher
  forcing the policy's output at step t never changes the observation at t+1, so the
  number of leading exact matches of a full teacher-forced run equals what an
  "until the first mismatch" rollout would count.
- **Session outcome** (purchase vs leave, as OPeRA reports): **Decision**: the outcome is
  read over the *whole* session, not at its last step (OPeRA's filtered sessions end with
  terminate, its full sessions on an arbitrary last event). The human *purchased* if any
  recorded step is a purchase click (:func:`is_purchase`), else *left*; the policy's
  predicted outcome is *purchase* if its output at any step of the session is a purchase
  click. We report the F1 of the purchase class, macro-F1 over {purchase, leave} and accuracy.
- **What counts as a purchase click** (the definition, tested on both OPeRA variants): a
  click whose recorded OPeRA ``click_type`` is in :data:`PURCHASE_CLICK_TYPES`. OPeRA labels
  add-to-cart, buy-now and checkout clicks alike as ``purchase``, so "purchased" here means
  *committed to buying in this session* (put in cart, bought now, or checked out), not a
  placed order. Without a ``click_type`` (other data, or a policy naming an element that was
  not the recorded one) the element name decides: a dotted segment in
  :data:`PURCHASE_SEGMENTS` (``buy_now``, ``place_order``, ...; ``add_to_cart`` alone is not).
- **Action-type distribution distance**: total variation and Jensen-Shannon divergence
  (base 2, in [0, 1]) between the policy's and the humans' distributions over
  {click, type_and_submit, terminate, invalid}.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping, Sequence

from shop_env.actions import ACTION_TYPES, CLICK, Action

INVALID = "invalid"
TYPE_LABELS: tuple[str, ...] = (*ACTION_TYPES, INVALID)
PURCHASE = "purchase"
LEAVE = "leave"
# Purchase buttons on Amazon-like pages (OPeRA semantic ids and the synthetic sample): a
# click is a purchase when one dotted segment of its element name is one of these.
# Proceeding to checkout is not buying yet, so "checkout" segments do not count.
PURCHASE_SEGMENTS = frozenset({"buy_now", "place_order", "place_your_order", "buy_now_button",
                               "place_order_button"})
PURCHASE_CLICK_TYPES = frozenset({"purchase", "buy_now", "place_order", "checkout"})


def is_purchase(action: Action | Mapping[str, Any] | None, metadata: Mapping[str, Any] | None = None) -> bool:
    """True if ``action`` is a purchase click.

    The recorded ``click_type`` in ``metadata`` (OPeRA's field) decides when present;
    otherwise a dotted segment of the element name must be in :data:`PURCHASE_SEGMENTS`
    (``buy_now``, ``place_order``, ``place_your_order``...). ``add_to_cart`` is not a purchase.
    """
    if action is None:
        return False
    if isinstance(action, Mapping):
        a_type, name = action.get("type"), action.get("name") or ""
    else:
        a_type, name = action.type, action.name
    if a_type != CLICK:
        return False
    click_type = (metadata or {}).get("click_type")
    if isinstance(click_type, str) and click_type:
        return click_type.lower() in PURCHASE_CLICK_TYPES
    return any(seg.lower() in PURCHASE_SEGMENTS for seg in str(name).split("."))


def group_sessions(records: Iterable[Mapping[str, Any]], *, complete_only: bool = True
                   ) -> dict[str, list[Mapping[str, Any]]]:
    """Records grouped by session id, sorted by step; incomplete sessions dropped if asked."""
    by: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        by[str(r["session_id"])].append(r)
    out = {}
    for sid, recs in by.items():
        recs.sort(key=lambda r: int(r["step_index"]))
        n = int(recs[0].get("n_steps", len(recs)))
        if complete_only and [int(r["step_index"]) for r in recs] != list(range(n)):
            continue
        out[sid] = recs
    return out


def until_mismatch(sessions: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, float]:
    """Leading exact matches per session: mean count, mean fraction of the session, share fully matched."""
    if not sessions:
        return {"sessions": 0, "mean_steps_matched": 0.0, "mean_fraction_matched": 0.0,
                "fully_matched_sessions": 0.0}
    counts, fracs, full = [], [], 0
    for recs in sessions.values():
        k = 0
        while k < len(recs) and recs[k]["exact"]:
            k += 1
        counts.append(k)
        fracs.append(k / len(recs))
        full += k == len(recs)
    n = len(sessions)
    return {"sessions": n, "mean_steps_matched": sum(counts) / n,
            "mean_fraction_matched": sum(fracs) / n, "fully_matched_sessions": full / n}


def _f1(tp: int, fp: int, fn: int) -> float:
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else 0.0


def session_outcome(records: Sequence[Mapping[str, Any]], key: str) -> str:
    """``purchase`` if any record's per-step ``key`` (``gold_outcome`` / ``pred_outcome``) is one, else ``leave``."""
    return PURCHASE if any(r.get(key) == PURCHASE for r in records) else LEAVE


def session_outcomes(sessions: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """Purchase-vs-leave agreement over each whole session (see module docstring)."""
    pairs = [(session_outcome(recs, "gold_outcome"), session_outcome(recs, "pred_outcome"))
             for recs in sessions.values()]
    counts = Counter(pairs)
    per_class = {}
    for c in (PURCHASE, LEAVE):
        tp = counts[(c, c)]
        fp = sum(v for (g, p), v in counts.items() if p == c and g != c)
        fn = sum(v for (g, p), v in counts.items() if g == c and p != c)
        per_class[c] = _f1(tp, fp, fn)
    n = len(pairs)
    return {
        "sessions": n,
        "purchase_f1": per_class[PURCHASE],
        "leave_f1": per_class[LEAVE],
        "macro_f1": (per_class[PURCHASE] + per_class[LEAVE]) / 2,
        "accuracy": (sum(counts[(c, c)] for c in (PURCHASE, LEAVE)) / n) if n else 0.0,
        "gold_purchase_rate": (sum(1 for g, _ in pairs if g == PURCHASE) / n) if n else 0.0,
        "pred_purchase_rate": (sum(1 for _, p in pairs if p == PURCHASE) / n) if n else 0.0,
    }


def type_distribution(labels: Iterable[str | None]) -> dict[str, float]:
    """Normalised distribution over :data:`TYPE_LABELS` (``None`` counts as invalid)."""
    c = Counter(INVALID if lab is None else lab for lab in labels)
    total = sum(c.values())
    return {lab: (c[lab] / total if total else 0.0) for lab in TYPE_LABELS}


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Total variation distance 0.5 * sum |p - q| over the union of keys."""
    keys = sorted(set(p) | set(q))  # a fixed summation order: the same float in every process
    return 0.5 * math.fsum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys)


def js_divergence(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen-Shannon divergence in bits (0 = identical, 1 = disjoint supports)."""
    keys = sorted(set(p) | set(q))  # a fixed summation order: the same float in every process

    def kl(a: Mapping[str, float], m: Mapping[str, float]) -> float:
        return math.fsum(a.get(k, 0.0) * math.log2(a.get(k, 0.0) / m[k]) for k in keys if a.get(k, 0.0) > 0)

    m = {k: 0.5 * (p.get(k, 0.0) + q.get(k, 0.0)) for k in keys}
    return max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m))


def type_distribution_distance(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Policy vs human action-type distributions and their TV / JS distances."""
    policy = type_distribution(r.get("pred_type") for r in records)
    human = type_distribution(r["gold"]["type"] for r in records)
    return {"policy": policy, "human": human, "total_variation": total_variation(policy, human),
            "js_divergence": js_divergence(policy, human)}


def session_level(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """All session-level metrics of one run (complete sessions only for the per-session ones)."""
    sessions = group_sessions(records)
    return {"until_mismatch": until_mismatch(sessions), "outcome": session_outcomes(sessions),
            "type_distribution": type_distribution_distance(records)}
