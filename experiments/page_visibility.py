"""How much of the current page a prompt budget shows: products on results pages, click targets kept.

For each budget, builds every step's prompt exactly as the environment serves it
(``latest_step`` context, the persona first) and counts, on results pages, how many products
have their ``product_title`` in the served page, and, per kind of click, how many gold targets
are still on the page (``Prompt.target_kept``)::

    .venv/bin/python experiments/page_visibility.py data/sample/test 6000 12000 16000

Seconds per budget on the sample's test split.
"""
from __future__ import annotations

import argparse
import re
import statistics
from collections import Counter

from shop_env.data import open_store
from shop_env.prompts import PromptBuilder

_PRODUCT = re.compile(r'name="search_results\.([^".]+)\.product_title"')


def _click_kind(name: str) -> str:
    return "product" if name.startswith("search_results.") else name.split(".", 1)[0]


def visibility(store_dir: str, max_chars: int) -> dict:
    """Products shown per results page and click targets kept per click kind, at ``max_chars``."""
    shown: list[int] = []
    clicks: Counter = Counter()
    kept: Counter = Counter()
    for session in open_store(store_dir):
        builder = PromptBuilder(context="latest_step", max_chars=max_chars)
        for k, step in enumerate(session.steps):
            on_results, is_click = step.metadata.get("page_type") == "search", step.action.type == "click"
            if not (on_results or is_click):
                continue
            prompt = builder.build(session, k)
            if on_results:  # latest_step context: the current page is the only page in the prompt
                shown.append(len(set(_PRODUCT.findall(prompt.text))))
            if is_click:
                kind = _click_kind(step.action.name)
                clicks[kind] += 1
                kept[kind] += prompt.target_kept
    return {"max_chars": max_chars, "results_pages": len(shown),
            "products_shown_median": statistics.median(shown) if shown else 0,
            "results_pages_without_a_product": sum(n == 0 for n in shown),
            "click_targets_kept": {kind: f"{kept[kind]}/{clicks[kind]}" for kind, _ in clicks.most_common()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", help="a session store (e.g. data/sample/test)")
    parser.add_argument("budgets", nargs="+", type=int, help="prompt budgets in characters")
    args = parser.parse_args()
    for budget in args.budgets:
        print(visibility(args.store, budget))


if __name__ == "__main__":
    main()
