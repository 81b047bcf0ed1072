"""Test-data builders: toy two-step sessions and a tiny model trained on them (cached).

Used by the tests and the benchmarks; not part of the library.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from agents.training import tiny
from agents.training.tiny import cached_tiny_model


def easy_sessions(n_sessions: int = 16, seed: int = 0, terminate_fraction: float = 0.5) -> list:
    """Two-step toy sessions for smoke tests and demos (tiny pages, fixed rationales).

    Step 0 (home page): search ``nav_bar.search_input`` for a product. Step 1 (a results
    page that looks the same in every session): click ``search_results.item_a.product_title``
    or, in a ``terminate_fraction`` of sessions chosen at random, terminate. Step 1 is
    therefore ambiguous from the page alone, which is what makes it an easy RL target:
    a model SFT-ed on these sessions starts near a 50/50 split that RL can move.
    """
    import random

    from shop_env.actions import Action
    from shop_env.data.model import Session, Step

    rng = random.Random(seed)
    home = ('<html><body><form name="nav_bar"><input name="nav_bar.search_input" type="text"/>'
            '</form><h1>Welcome</h1></body></html>')
    results = ('<html><body><input name="nav_bar.search_input" type="text" value="shoes"/>'
               '<div name="search_results"><a name="search_results.item_a.product_title">Shoe A</a>'
               '<span>$10</span></div></body></html>')
    sessions = []
    for i in range(n_sessions):
        stop = rng.random() < terminate_fraction
        last = (Step(results, Action("terminate"), url="https://shop.example/s?k=shoes",
                     rationale="I have seen enough and want to leave.") if stop else
                Step(results, Action("click", "search_results.item_a.product_title"),
                     url="https://shop.example/s?k=shoes", rationale="I want to look at this shoe."))
        sessions.append(Session(f"easy-{seed}-{i}", [
            Step(home, Action("type_and_submit", "nav_bar.search_input", "shoes"), url="https://shop.example/",
                 rationale="I want to find shoes."), last], user_id=f"user-{i}", source="easy"))
    return sessions


def write_easy_store(out: str | os.PathLike, n_sessions: int = 16, seed: int = 0,
                     terminate_fraction: float = 0.5) -> Path:
    """:func:`easy_sessions` written as a session store at ``out`` (marked synthetic)."""
    from shop_env.data.store import write_store

    return write_store(out, easy_sessions(n_sessions, seed, terminate_fraction), source="easy", synthetic=True,
                       description="toy two-step sessions for smoke tests (tests.tiny_data.easy_sessions)")


def cached_easy_model(cache_dir: str | os.PathLike | None = None, n_sessions: int = 32,
                      seed: int = 0) -> tuple[Path, Path]:
    """``(model_dir, store_dir)``: the :func:`easy_sessions` store and a tiny model whose
    tokenizer was trained on it, built once and cached (see :func:`cached_tiny_model`)."""
    base = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "shop_r1_tiny"
    src = hashlib.sha256(Path(__file__).read_bytes() + Path(tiny.__file__).read_bytes()).hexdigest()[:12]  # rebuild when this code changes
    store = base / f"easy-{src}-{n_sessions}-{seed}"
    if not (store / "manifest.json").exists():
        write_easy_store(store, n_sessions, seed)
    return cached_tiny_model(cache_dir, data=store, vocab_size=1024, seed=seed), store


