"""Does a from-scratch model learn to put the persona's need into its search query?

SFT on the search targets only, with the environment's own prompts (latest-step context, a
short character budget so that steps are cheap), then every ``--every`` steps a greedy probe
on the validation searches: how many outputs parse as a search, how many queries exceed
ROUGE-L 0.75 with the recorded query (exact), how many are near the persona's product type
(ROUGE-L above 0.5), and how many distinct queries the model writes. A model that ignores
the persona writes one query for everybody. One-off diagnostic for issue 14
(docs/reproduce.md); needs the data and base model that `make reproduce` writes.

    .venv/bin/python experiments/search_copy_probe.py outputs/reproduce/seed0/models/base /tmp/probe
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from agents.llm import LLMAgent
from agents.training.sft import collate, sft_example_at, sft_loss, tokenize_example
from shop_env.actions import parse_model_output
from shop_env.data.store import open_store
from shop_env.prompts import PromptBuilder
from shop_env.text_similarity import rouge_l

SEARCH = "type_and_submit"


def search_examples(store, builder, tokenizer) -> list[tuple[list[int], list[int]]]:
    """Tokenised (input_ids, labels) of every search step whose target is in its prompt."""
    rows = []
    for session in store:
        for k, step in enumerate(session.steps):
            example = sft_example_at(session, k, builder) if step.action.type == SEARCH else None
            row = tokenize_example(tokenizer, example, 1 << 16) if example else None
            if row:
                rows.append(row)
    return rows


def probe(agent: LLMAgent, cases) -> dict:
    """Greedy queries for ``cases`` (messages, gold query, product type), summarised."""
    outputs = [group[0].text for group in agent.generate([m for m, _, _ in cases])]
    valid = exact = near_need = 0
    queries = collections.Counter()
    for out, (_, gold, need) in zip(outputs, cases):
        parsed = parse_model_output(out)
        if not parsed.ok or parsed.action.type != SEARCH:
            continue
        query = parsed.action.text
        valid += 1
        queries[query] += 1
        exact += rouge_l(query, gold) > 0.75
        near_need += rouge_l(query, need) > 0.5
    return {"valid": valid, "exact": exact, "near_need": near_need, "distinct": len(queries),
            "top": queries.most_common(3), "of": len(cases)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a from_pretrained model directory (e.g. a reproduce run's models/base)")
    ap.add_argument("out", type=Path, help="where the trained model is saved")
    ap.add_argument("--data", type=Path, default=Path("outputs/reproduce/data"), help="holds train/ and val/")
    ap.add_argument("--max-chars", type=int, default=2500, help="prompt budget (2,500 keeps 96 of 101 val searches)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--every", type=int, default=500, help="probe every N steps")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model)
    agent = LLMAgent(model, tokenizer, temperature=0.0, max_new_tokens=72, batch_size=16, seed=args.seed)
    builder = PromptBuilder(context="latest_step", max_chars=args.max_chars)
    rows = search_examples(open_store(args.data / "train"), builder, tokenizer)
    cases = [(builder.build(s, k).messages, step.action.text, s.persona["need"]["product_type"].lower())
             for s in open_store(args.data / "val") for k, step in enumerate(s.steps) if step.action.type == SEARCH]
    print(f"{len(rows)} training searches, {len(cases)} probe searches", flush=True)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 100))
    rng = random.Random(args.seed)
    order: list[int] = []
    start, losses = time.time(), []
    print(json.dumps({"step": 0, **probe(agent, cases)}), flush=True)
    for step in range(1, args.steps + 1):
        if len(order) < args.batch:
            order += rng.sample(range(len(rows)), len(rows))
        batch = [rows[order.pop()] for _ in range(args.batch)]
        n_tokens = sum(sum(1 for t in labels[1:] if t != -100) for _, labels in batch)
        loss = sft_loss(model, collate(batch, tokenizer.pad_token_id), n_tokens)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
        if step % args.every == 0:
            record = {"step": step, "loss": round(sum(losses[-args.every:]) / args.every, 3),
                      **probe(agent, cases), "seconds": round(time.time() - start)}
            print(json.dumps(record), flush=True)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)


if __name__ == "__main__":
    main()
