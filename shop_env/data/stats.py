"""Summary statistics of a session store: sessions, steps, action-type mix, page sizes.

Counts of sessions, steps and users come from the index (no data read). The action mix,
page sizes and rationale coverage need each session read once (streaming, bounded memory);
``sample=N`` estimates them from N seeded random sessions instead, for very large stores.
A store whose manifest says ``synthetic`` is labelled SYNTHETIC in every rendering.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from shop_env.actions import ACTION_TYPES
from shop_env.data.store import MANIFEST, SessionStore, open_store

PERCENTILES = (50, 90, 99)


def _summary(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"min": 0, "mean": 0.0, **{f"p{q}": 0.0 for q in PERCENTILES}, "max": 0}
    return {"min": int(values.min()), "mean": float(values.mean()),
            **{f"p{q}": float(np.percentile(values, q)) for q in PERCENTILES}, "max": int(values.max())}


def compute_stats(store: SessionStore, *, sample: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Statistics of one store (or split view) as a JSON-ready dict."""
    n = len(store)
    idx = store._index[store._rows] if n else store._index[:0]
    steps_per_session = np.asarray(idx["n_steps"], dtype=np.int64)
    users = np.asarray(idx["user_hash"])
    positions = np.arange(n)
    if sample is not None and sample < n:
        positions = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    mix = dict.fromkeys(ACTION_TYPES, 0)
    page_chars: list[int] = []
    with_rationale = 0
    for i in positions:
        for step in store[int(i)].steps:
            mix[step.action.type] += 1
            page_chars.append(len(step.page_html))
            with_rationale += bool(step.rationale)
    read_steps = len(page_chars)
    return {
        "path": os.fspath(store.path),
        "synthetic": store.synthetic,
        "source": store.manifest.get("source", "unknown"),
        "sessions": n,
        "steps": int(steps_per_session.sum()),
        "users": int(np.unique(users[users != 0]).size),
        "sessions_without_steps": int((steps_per_session == 0).sum()),
        "steps_per_session": _summary(steps_per_session),
        "sessions_read": int(len(positions)),
        "action_types": mix,
        "action_type_fraction": {t: (c / read_steps if read_steps else 0.0) for t, c in mix.items()},
        "page_chars": _summary(np.asarray(page_chars, dtype=np.int64)),
        "rationale_fraction": with_rationale / read_steps if read_steps else 0.0,
    }


def store_stats(path: str | os.PathLike, *, split: str | None = None, sample: int | None = None,
                sample_seed: int = 0, **split_kwargs: Any) -> dict[str, dict[str, Any]]:
    """``{label: stats}`` for the store at ``path``.

    A split folder (``train/`` and ``test/`` stores, like the embedded sample) gives one
    entry per split unless ``split`` picks one; a single store gives one entry, or the
    seeded hash split ``split`` of it (``split_kwargs``: test_fraction, seed, by).
    """
    p = Path(path)
    is_split_folder = not (p / MANIFEST).exists() and (p / "train" / MANIFEST).exists()
    if is_split_folder:
        names = [split] if split and split != "all" else ["train", "test"]
        return {name: compute_stats(open_store(p, split=name), sample=sample, seed=sample_seed) for name in names}
    label = split or "all"
    return {label: compute_stats(open_store(p, split=label, **split_kwargs), sample=sample, seed=sample_seed)}


def format_stats(stats: dict[str, Any], label: str = "") -> str:
    """Human-readable rendering; starts with a SYNTHETIC banner for generated data."""
    lines = []
    if stats["synthetic"]:
        lines.append("*** SYNTHETIC DATA: generated sessions, not recorded humans ***")
    spp, pc = stats["steps_per_session"], stats["page_chars"]
    lines += [
        f"store: {stats['path']}" + (f" [{label}]" if label else "") + f"  source: {stats['source']}"
        + ("  (SYNTHETIC)" if stats["synthetic"] else ""),
        f"sessions: {stats['sessions']}  steps: {stats['steps']}  users: {stats['users']}  "
        f"sessions without steps: {stats['sessions_without_steps']}",
        f"steps/session: min {spp['min']}  mean {spp['mean']:.2f}  p50 {spp['p50']:.0f}  "
        f"p90 {spp['p90']:.0f}  max {spp['max']}",
    ]
    sampled = stats["sessions_read"] < stats["sessions"]
    note = f"  (estimated from {stats['sessions_read']} sampled sessions)" if sampled else ""
    mix = "  ".join(f"{t} {stats['action_types'][t]} ({100 * stats['action_type_fraction'][t]:.1f}%)"
                    for t in ACTION_TYPES)
    lines += [f"action types: {mix}{note}",
              f"page size (chars): p50 {pc['p50']:.0f}  p90 {pc['p90']:.0f}  p99 {pc['p99']:.0f}  "
              f"max {pc['max']}  mean {pc['mean']:.0f}",
              f"steps with a rationale: {100 * stats['rationale_fraction']:.1f}%"]
    return "\n".join(lines)
