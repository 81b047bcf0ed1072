"""Benchmark: ROUGE-L and reward scoring throughput against rouge-score, in the same run.

    .venv/bin/python benchmarks/bench_reward.py [--pairs 20000] [--repeats 3]

Prints (1) ROUGE-L calls/s of ``shop_env.text_similarity.rouge_l`` (cold cache: every
string new to the tokenisation cache; warm: second pass) and of
``rouge_score.rouge_scorer.RougeScorer(["rougeL"]).score``, with their ratio, and
(2) (output, gold) scorings/s of ``shop_env.reward.compute_reward`` beside the same scorer
with its similarity swapped for rouge-score (the peer). Single process, single thread.
The workload is synthetic but shaped like real traffic: dotted element names, short
search queries, a mix of exact, near, wrong-type, terminate and unparseable outputs.
"""
from __future__ import annotations

import argparse
import random
import time
from typing import Callable

from rouge_score import rouge_scorer

import shop_env.reward as reward_mod
from shop_env.actions import Action, format_model_output, parse_model_output
from shop_env.reward import compute_reward, rouge_l
from shop_env.text_similarity import clear_caches

WORDS = ("phone case wireless charger usb cable laptop stand headphones bluetooth speaker "
         "kitchen knife set coffee maker running shoes yoga mat water bottle desk lamp "
         "backpack travel mug notebook gel pens").split()
SECTIONS = ["search_results", "refinements", "buybox", "nav_bar", "product_details", "reviews"]


def _phrase(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def make_workload(n: int, seed: int = 0) -> list[tuple[str, Action]]:
    """``n`` (model output, gold action) pairs with realistic shapes; deterministic."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        slug = _phrase(rng, 2, 6).replace(" ", "_") + f"_{i}"
        kind = rng.random()
        if kind < 0.55:
            gold = Action("click", f"{rng.choice(SECTIONS)}.{slug}.{rng.choice(['product_title', 'add_to_cart', 'link'])}")
        elif kind < 0.85:
            gold = Action("type_and_submit", "nav_bar.search_input", _phrase(rng, 1, 5) + f" {i}")
        else:
            gold = Action("terminate")
        r = rng.random()
        if r < 0.3:
            pred = gold
        elif r < 0.6 and gold.type == "click":
            pred = Action("click", gold.name.rsplit(".", 1)[0] + "." + rng.choice(["link", "image"]))
        elif r < 0.6 and gold.type == "type_and_submit":
            pred = Action("type_and_submit", gold.name, _phrase(rng, 1, 3) + " " + gold.text)
        elif r < 0.8:
            pred = Action("terminate")
        else:
            pred = Action("click", f"{rng.choice(SECTIONS)}.{_phrase(rng, 2, 5).replace(' ', '_')}")
        text = format_model_output("I want to " + _phrase(rng, 3, 12) + ".", pred)
        if rng.random() < 0.05:
            text = text[: rng.randint(0, len(text))]  # truncated generation
        elif rng.random() < 0.05:
            text = "```json\n" + text + "\n```"
        pairs.append((text, gold))
    return pairs


def reward_field_pairs(work: list[tuple[str, Action]]) -> list[tuple[str, str]]:
    """Exactly the (prediction, reference) strings the reward compares: names, typed texts."""
    pairs = []
    for out, gold in work:
        pred = parse_model_output(out).action
        if pred is not None and pred.type == gold.type and gold.type != "terminate":
            pairs.append((pred.name, gold.name))
            if gold.type == "type_and_submit":
                pairs.append((pred.text, gold.text))
    return pairs


def rate(fn: Callable[[], int], repeats: int, before: Callable[[], None] = lambda: None) -> float:
    """Best calls/s over ``repeats`` runs of ``fn`` (which returns how many calls it made)."""
    best = 0.0
    for _ in range(repeats):
        before()
        start = time.process_time()
        calls = fn()
        best = max(best, calls / (time.process_time() - start))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    work = make_workload(args.pairs)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    field_pairs = reward_field_pairs(work)
    rng = random.Random(1)
    sentence_pairs = [(_phrase(rng, 8, 40), _phrase(rng, 8, 40)) for _ in range(len(field_pairs))]

    def peer_similarity(prediction: str, reference: str, threshold: float) -> float:
        f = scorer.score(reference, prediction)["rougeL"].fmeasure
        return f if f > threshold else 0.0

    # 1. ROUGE-L alone
    for label, pairs in (("element names / queries, as the reward compares them", field_pairs),
                         ("sentences of 8-40 words", sentence_pairs)):
        def ours() -> int:
            for a, b in pairs:
                rouge_l(a, b)
            return len(pairs)

        def theirs() -> int:
            for a, b in pairs:
                scorer.score(b, a)
            return len(pairs)

        ours_cold = rate(ours, args.repeats, clear_caches)
        ours_warm = rate(ours, args.repeats)
        peer = rate(theirs, args.repeats)
        print(f"ROUGE-L, {len(pairs)} pairs of {label} (calls/s of CPU time, one core):")
        print(f"  rouge-score      {peer:12,.0f}")
        print(f"  ours, cold cache {ours_cold:12,.0f}   x{ours_cold / peer:.1f}")
        print(f"  ours, warm cache {ours_warm:12,.0f}   x{ours_warm / peer:.1f}")

    # 2. full scoring: parse + Table 1 reward
    def run_ours() -> int:
        for out, gold in work:
            compute_reward(out, gold)
        return len(work)

    ours_cold = rate(run_ours, args.repeats, clear_caches)
    ours_warm = rate(run_ours, args.repeats)
    original = reward_mod.similarity_above
    reward_mod.similarity_above = peer_similarity
    try:
        peer = rate(run_ours, args.repeats)
    finally:
        reward_mod.similarity_above = original
    print(f"compute_reward on {len(work)} (output, gold) pairs (scorings/s of CPU time, one core):")
    print(f"  same scorer with rouge-score similarity {peer:12,.0f}")
    print(f"  ours, cold cache                        {ours_cold:12,.0f}   x{ours_cold / peer:.1f}")
    print(f"  ours, warm cache                        {ours_warm:12,.0f}   x{ours_warm / peer:.1f}")


if __name__ == "__main__":
    main()
