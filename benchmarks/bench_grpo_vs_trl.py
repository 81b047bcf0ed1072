"""Our GRPO trainer (agents.training.grpo) beside TRL's GRPOTrainer, in one run, on the CPU.

Same tiny random-init model, same prompts (the easy toy store, latest-step context), same
group size, prompts per step, completion length, temperature (0.6), learning rate and KL
beta (0.001, so both keep a frozen reference model), and no gradient checkpointing on
either side (TRL's ``GRPOConfig`` turns it on by default). TRL is driven through
:func:`shop_env.integrations.trl.make_grpo_trainer` (the Shop-R1 reward as TRL reward
functions). Timing skips the first (warm-up) step on both sides: TRL's is measured with a
callback from the start to the end of each optimizer step, which includes generation,
reward, reference log-probs and the update, like ``perf/step_seconds`` of ours.
Differences that remain: ours adds the self-certainty bonus (one extra reduction over the
logits it already has) and samples with its own KV-cached loop; TRL samples with
``model.generate``.

    .venv/bin/python benchmarks/bench_grpo_vs_trl.py [--steps N] [--quick] [--threads T]

Prints steps/s and completion tokens/s of each and the ratio ours / TRL.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_grpo  # noqa: E402  (the shared harness; registers our trainer as the reference)


def run_trl(model_dir: Path, store_dir: Path, out_dir: Path, args: argparse.Namespace) -> dict:
    """TRL's GRPOTrainer with the Shop-R1 reward functions, same settings as ``run_own``."""
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    from shop_env.integrations.trl import build_dataset, make_grpo_trainer

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.begin: list[float] = []
            self.seconds: list[float] = []

        def on_step_begin(self, *a, **k):
            self.begin.append(time.perf_counter())

        def on_step_end(self, *a, **k):
            self.seconds.append(time.perf_counter() - self.begin[-1])

    timer = StepTimer()
    ds = build_dataset(store_dir, split="all", context="latest_step")
    t = time.perf_counter()
    trainer = make_grpo_trainer(str(model_dir), ds, output_dir=out_dir, num_generations=args.num_generations,
                                prompts_per_step=args.prompts_per_step, max_completion_length=args.max_new_tokens,
                                max_steps=args.steps + 1, learning_rate=1e-5, temperature=0.6, beta=0.001, seed=0,
                                use_cpu=True, callbacks=[timer],
                                gradient_checkpointing=False)  # TRL's default is on; ours is off here
    trainer.remove_callback(PrinterCallback)  # no per-step log dicts on stdout
    trainer.train()
    total = time.perf_counter() - t
    logs = [h for h in trainer.state.log_history if "completions/mean_length" in h]
    n = args.num_generations * args.prompts_per_step
    tokens = sum(h["completions/mean_length"] * n for h in logs[1:])  # skip warm-up, as for ours
    seconds = sum(timer.seconds[1:])
    steps = len(timer.seconds) - 1
    return {"steps": steps, "seconds": seconds, "steps_per_s": steps / seconds, "tokens_per_s": tokens / seconds,
            "completion_tokens": tokens, "wall_incl_load_s": total}


bench_grpo.PEERS["trl GRPOTrainer"] = run_trl

if __name__ == "__main__":
    bench_grpo.main()
