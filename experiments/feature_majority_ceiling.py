"""How much exact match do the prompt's coarse features allow, with and without typing queries?

A majority policy, fitted on training sessions: for each cell of coarse features it predicts the
most frequent recorded action (type and element name) of that cell. A search either types the
persona's product type (``need.product_type``, which the prompt shows) or is counted as a miss;
a click on an element named after a product of the page (``search_results.<product>...``) is
counted as a miss, since the cell cannot say which product. Cells:

* ``page``: the kind of the current page as the synthetic store records it
  (``Step.metadata["page_type"]``: home, search, product, cart, checkout; the URL shows it);
* ``page+persona``: that, the persona's intent, a tercile of its patience, and the number of
  steps taken so far (capped at 6).

It bounds what a model gains from learning *when* to click, search or leave without learning
*what* to type or which product to open. One-off diagnostic for issue 14 (docs/reproduce.md):

    .venv/bin/python experiments/feature_majority_ceiling.py outputs/reproduce/data/train data/sample/test
"""
from __future__ import annotations

import argparse
import collections
import re
from typing import Any, Callable

from shop_env.actions import CLICK, TERMINATE, TYPE_AND_SUBMIT, Action
from shop_env.data.model import Session
from shop_env.data.store import open_store
from shop_env.metrics import exact_match

_PRODUCT_NAME = re.compile(r"^search_results\.[^.]+\.")
Cell = Callable[[Session, int], tuple[Any, ...]]


def _persona(session: Session) -> dict[str, Any]:
    return session.persona if isinstance(session.persona, dict) else {}


def page_cell(session: Session, k: int) -> tuple[Any, ...]:
    return (session.steps[k].metadata.get("page_type"),)


def persona_cell(session: Session, k: int) -> tuple[Any, ...]:
    persona = _persona(session)
    patience = float(persona.get("patience", 0.5))
    return page_cell(session, k) + (persona.get("intent"), min(2, int(patience * 3)), min(k, 6))


def _pattern(action: Action) -> tuple[str, str]:
    """An action as the cell's label: searches without their text, product names as a pattern."""
    return action.type, _PRODUCT_NAME.sub("search_results.*.", action.name)


def _need(session: Session) -> str:
    need = _persona(session).get("need")
    return str(need.get("product_type") or "") if isinstance(need, dict) else ""


def fit(train: list[Session], cell: Cell) -> dict[tuple[Any, ...], tuple[str, str]]:
    """The most frequent action pattern of each cell's training steps."""
    counts: dict[tuple[Any, ...], collections.Counter] = collections.defaultdict(collections.Counter)
    for session in train:
        for k, step in enumerate(session.steps):
            counts[cell(session, k)][_pattern(step.action)] += 1
    return {key: c.most_common(1)[0][0] for key, c in counts.items()}


def score(policy: dict[tuple[Any, ...], tuple[str, str]], evaluate: list[Session], cell: Cell,
          copy_need: bool) -> dict[str, tuple[int, int]]:
    """Exact matches and steps per gold action type of the majority policy."""
    exact: collections.Counter = collections.Counter()
    steps: collections.Counter = collections.Counter()
    for session in evaluate:
        for k, step in enumerate(session.steps):
            steps[step.action.type] += 1
            kind, name = policy.get(cell(session, k), (None, ""))
            if kind is None or (kind == CLICK and "*" in name) or (kind == TYPE_AND_SUBMIT and not copy_need):
                continue
            text = _need(session) if kind == TYPE_AND_SUBMIT else ""
            pred = Action(TERMINATE) if kind == TERMINATE else Action(kind, name, text)
            exact[step.action.type] += exact_match(pred, step.action)
    return {t: (exact[t], steps[t]) for t in steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train", help="training store (e.g. outputs/reproduce/data/train)")
    parser.add_argument("evaluate", help="evaluation store (e.g. data/sample/test)")
    args = parser.parse_args()
    train, evaluate = list(open_store(args.train)), list(open_store(args.evaluate))
    print("| cells | searches type the need | exact | click | search | terminate |")
    print("|---|---|---|---|---|---|")
    for label, cell in (("page", page_cell), ("page+persona", persona_cell)):
        policy = fit(train, cell)
        for copy_need in (False, True):
            by_type = score(policy, evaluate, cell, copy_need)
            total = sum(n for _, n in by_type.values())
            hits = sum(e for e, _ in by_type.values())
            parts = ["{} / {}".format(*by_type.get(t, (0, 0))) for t in (CLICK, TYPE_AND_SUBMIT, TERMINATE)]
            print(f"| {label} | {'yes' if copy_need else 'no'} | {hits / total:.1%} | " + " | ".join(parts) + " |")


if __name__ == "__main__":
    main()
