"""Statistics of a set of sessions (for the data card and the tests), and their documented ranges."""
from __future__ import annotations

import statistics
from collections import Counter
from typing import Any, Iterable

from shop_env.actions import ACTION_TYPES, CLICK, TERMINATE, TYPE_AND_SUBMIT
from shop_env.data.model import Session

# Ranges the generator is documented to stay within (data/sample/README.md); the tests check
# them on freshly generated sessions. Shares are over all recorded actions (prediction targets).
EXPECTED_RANGES: dict[str, tuple[float, float]] = {
    "share.terminate": (0.23, 0.31),
    "share.click": (0.32, 0.41),
    "share.type_and_submit": (0.32, 0.41),
    "margin.click_over_terminate": (0.04, 0.16),          # click share minus terminate share
    "margin.type_and_submit_over_terminate": (0.04, 0.16),
    "purchase_rate": (0.06, 0.22),
    "mean_steps": (2.8, 3.9),
}


def session_stats(sessions: Iterable[Session]) -> dict[str, Any]:
    """Counts and shares: sessions, steps, action-type mix, outcomes, page types, page sizes."""
    n = 0
    lengths: list[int] = []
    types: Counter[str] = Counter()
    types_after_first: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    pages: Counter[str] = Counter()
    by_page: Counter[str] = Counter()
    chars: list[int] = []
    users: set[str] = set()
    targets: Counter[str] = Counter()
    for s in sessions:
        n += 1
        lengths.append(len(s.steps))
        users.add(s.user_id or "")
        outcomes[str(s.metadata.get("outcome", "unknown"))] += 1
        for k, st in enumerate(s.steps):
            t = st.action.type
            types[t] += 1
            if k:
                types_after_first[t] += 1
            pt = str(st.metadata.get("page_type", "unknown"))
            pages[pt] += 1
            by_page[f"{pt}/{t}"] += 1
            chars.append(len(st.page_html))
            if t != TERMINATE:
                targets[st.action.name.split(".", 1)[0]] += 1
    total = sum(types.values())
    after = sum(types_after_first.values())
    share = {t: round(types[t] / total, 4) if total else 0.0 for t in ACTION_TYPES}
    return {
        "n_sessions": n, "n_users": len(users), "n_steps": total,
        "mean_steps": round(total / n, 3) if n else 0.0,
        "median_steps": statistics.median(lengths) if lengths else 0,
        "max_steps": max(lengths) if lengths else 0,
        "length_histogram": dict(sorted(Counter(lengths).items())),
        "action_counts": {t: types[t] for t in ACTION_TYPES},
        "action_share": share,
        "action_share_excluding_first_step": {t: round(types_after_first[t] / after, 4) if after else 0.0
                                              for t in ACTION_TYPES},
        "outcomes": dict(sorted(outcomes.items())),
        "purchase_rate": round(outcomes["purchase"] / n, 4) if n else 0.0,
        "page_types": dict(sorted(pages.items())),
        "page_type_action": dict(sorted(by_page.items())),
        "target_sections": dict(targets.most_common()),
        "page_chars": {"mean": round(statistics.fmean(chars)) if chars else 0,
                       "median": statistics.median(chars) if chars else 0,
                       "min": min(chars) if chars else 0, "max": max(chars) if chars else 0},
    }


def check_ranges(stats: dict[str, Any]) -> list[str]:
    """Violations of :data:`EXPECTED_RANGES` (empty list: all within range)."""
    share = stats["action_share"]
    values = {
        "share.terminate": share[TERMINATE], "share.click": share[CLICK],
        "share.type_and_submit": share[TYPE_AND_SUBMIT],
        "margin.click_over_terminate": share[CLICK] - share[TERMINATE],
        "margin.type_and_submit_over_terminate": share[TYPE_AND_SUBMIT] - share[TERMINATE],
        "purchase_rate": stats["purchase_rate"], "mean_steps": stats["mean_steps"],
    }
    return [f"{k} = {values[k]:.4f} outside [{lo}, {hi}]" for k, (lo, hi) in EXPECTED_RANGES.items()
            if not lo <= values[k] <= hi]
