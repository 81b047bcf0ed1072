"""Write your own policy and benchmark it against the recorded humans.

    python examples/custom_policy.py [--limit 20]

or, the same policy from the command line::

    shop-r1 eval --policy examples/custom_policy.py:PersonaShopper \
        --policy-kwargs '{"query_words": 3}' --limit 20 --out outputs/eval/custom

A policy is any object with ``act(observations, infos) -> list[str]`` (one output text per
observation, see :class:`shop_env.policy.Policy`) and, optionally, a ``name``. It reads
what it needs from ``info``: the page's named elements, the earlier actions and the persona
(no prompt parsing), and must not read ``info["gold"]``.
"""
from __future__ import annotations

import argparse
import re
from typing import Any, Mapping, Sequence

from shop_env.actions import Action, format_model_output

_WORD = re.compile(r"[a-z][a-z0-9'-]{2,}")
_STOP = frozenset("and the for with who are you your that this from have has likes like enjoys "
                  "years old lives works".split())


class PersonaShopper:
    """Searches with words from the persona, opens the first result, adds it to the cart, leaves."""

    def __init__(self, query_words: int = 2, name: str = "persona-shopper") -> None:
        self.query_words = query_words
        self.name = name

    def _query(self, persona: Mapping[str, Any]) -> str:
        words = [w for w in _WORD.findall(" ".join(map(str, persona.values())).lower()) if w not in _STOP]
        return " ".join(words[: self.query_words]) or "gift"

    def act_one(self, info: Mapping[str, Any]) -> str:
        names = [el.name for el in info["elements"]]
        inputs = [el.name for el in info["elements"] if el.kind == "input"]
        searched = any(a.type == "type_and_submit" for a in info["history"])
        cart = next((n for n in names if n.endswith("add_to_cart")), None)
        title = next((n for n in names if n.endswith("product_title")), None)
        if cart:
            action, why = Action("click", name=cart), "This is the product I want."
        elif title and searched:
            action, why = Action("click", name=title), "The first result looks right."
        elif inputs and not searched:
            action = Action("type_and_submit", name=inputs[0], text=self._query(info["persona"]))
            why = "I search for something that suits me."
        else:
            action, why = Action("terminate"), "Nothing more to do here."
        return format_model_output(why, action)

    def act(self, observations: Sequence[str], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        return [self.act_one(info) for info in infos]


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=20, help="test sessions to evaluate")
    a = p.parse_args(argv)

    from shop_env.evaluation import EvalSettings, evaluate
    from shop_env.paths import sample_data_dir

    report = evaluate(PersonaShopper(), sample_data_dir(), EvalSettings(split="test", limit=a.limit))
    print(report.to_markdown())
    return {k: report.table2[k]["value"] for k in ("exact", "type_accuracy")}


if __name__ == "__main__":
    main()
