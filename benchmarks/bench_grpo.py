"""GRPO throughput on the CPU with the tiny model: steps/s and tokens/s, beside peers in one run.

Every trainer in :data:`PEERS` runs on the same tiny random-init model (built here), the
same prompts (the easy toy store, latest-step context), the same group size, prompts per
step and completion length. The model is random, so it rarely emits the stop token and
almost every completion has ``max_new_tokens`` tokens (tokens/s counts the real ones).
The first step (warm-up) is excluded from the timing.

    .venv/bin/python benchmarks/bench_grpo.py [--steps N] [--quick]

A peer is ``fn(model_dir, store_dir, out_dir, args) -> dict(steps_per_s, tokens_per_s, ...)``;
add one to :data:`PEERS` (the TRL ``GRPOTrainer`` comparison registers itself there).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import sys
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.tiny_data


def run_own(model_dir: Path, store_dir: Path, out_dir: Path, args: argparse.Namespace) -> dict:
    """shop-r1's own trainer (agents.training.grpo.train_grpo)."""
    from agents.training.grpo import GRPOConfig, train_grpo

    cfg = GRPOConfig(model=str(model_dir), data=str(store_dir), split="all", out=str(out_dir),
                     num_generations=args.num_generations, prompts_per_step=args.prompts_per_step,
                     max_new_tokens=args.max_new_tokens, max_steps=args.steps + 1, lr=1e-5, temperature=0.6,
                     context="latest_step", micro_batch_size=args.num_generations * args.prompts_per_step,
                     save_every=0, progress=False, tensorboard=False, device="cpu", seed=0)
    t = time.perf_counter()
    train_grpo(cfg)
    total = time.perf_counter() - t
    rows = [json.loads(x) for x in (out_dir / "metrics.jsonl").read_text().splitlines()][1:]  # skip warm-up
    seconds = sum(r["perf/step_seconds"] for r in rows)
    tokens = sum(r["perf/completion_tokens"] for r in rows)
    return {"steps": len(rows), "seconds": seconds, "steps_per_s": len(rows) / seconds,
            "tokens_per_s": tokens / seconds, "completion_tokens": tokens, "wall_incl_load_s": total}


#: name -> runner. The first entry is the reference for the printed ratios.
PEERS: dict[str, Callable[..., dict]] = {"shop-r1 train_grpo": run_own}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5, help="timed steps (after one warm-up step)")
    ap.add_argument("--num-generations", type=int, default=8)
    ap.add_argument("--prompts-per-step", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 avoids contention on busy boxes)")
    ap.add_argument("--quick", action="store_true", help="3 timed steps")
    args = ap.parse_args()
    if args.quick:
        args.steps = 3
    torch.set_num_threads(args.threads)
    from agents.training.tiny import build_tiny_model, iter_sample_texts
    from tests.tiny_data import write_easy_store

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = write_easy_store(root / "store", 16)
        model = build_tiny_model(root / "tiny", texts=iter_sample_texts(store), vocab_size=1024)
        print(f"tiny model, G={args.num_generations}, {args.prompts_per_step} prompts/step, "
              f"{args.max_new_tokens} new tokens, {args.steps} timed steps, cpu x{args.threads} threads")
        results = {}
        for name, fn in PEERS.items():
            r = fn(model, store, root / name.replace(" ", "_"), args)
            results[name] = r
            print(f"  {name:28s} {r['steps_per_s']:7.3f} steps/s  {r['tokens_per_s']:9.1f} completion tokens/s")
        ref = next(iter(results))
        for name, r in results.items():
            if name != ref:
                print(f"  ratio {ref} / {name}: steps/s x{results[ref]['steps_per_s'] / r['steps_per_s']:.2f}, "
                      f"tokens/s x{results[ref]['tokens_per_s'] / r['tokens_per_s']:.2f}")
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
