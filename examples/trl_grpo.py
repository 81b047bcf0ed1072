"""GRPO with TRL's GRPOTrainer and the Shop-R1 reward, on the CPU with the tiny model.

    python examples/trl_grpo.py                       # tiny model, 3 steps, sample train split
    python examples/trl_grpo.py --model Qwen/Qwen2.5-0.5B-Instruct --steps 500 --max-chars 60000

Each training row is one replayed step of a recorded session (the prompt the environment
shows, plus the recorded action); the reward functions score each sampled completion with
the Shop-R1 reward and TRL logs every component (``rewards/shop_r1_<component>/mean``).
Requires ``pip install 'shop-r1[trl]'``.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from shop_env.integrations.trl import COMPONENTS, build_dataset, make_grpo_trainer
from shop_env.paths import sample_data_dir


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="HF model id or path (default: build the tiny model)")
    p.add_argument("--data", default=str(sample_data_dir()), help="session store folder")
    p.add_argument("--split", default="train")
    p.add_argument("--context", default="latest_step", choices=["whole_session", "latest_step"])
    p.add_argument("--max-chars", type=int, default=3000, help="prompt budget (TRL does not truncate prompts)")
    p.add_argument("--rows", type=int, default=64, help="use the first N replayed steps")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--num-generations", type=int, default=4)
    p.add_argument("--prompts-per-step", type=int, default=2)
    p.add_argument("--max-completion-length", type=int, default=48)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--out", default=None, help="output folder (default: a temporary folder)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    model = a.model
    if model is None:
        from agents.training.tiny import cached_tiny_model
        model = str(cached_tiny_model(data=a.data))
    ds = build_dataset(a.data, split=a.split, context=a.context, max_chars=a.max_chars, limit=a.rows)
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="shop_r1_trl_"))
    trainer = make_grpo_trainer(model, ds, output_dir=out, num_generations=a.num_generations,
                                prompts_per_step=a.prompts_per_step, max_completion_length=a.max_completion_length,
                                max_steps=a.steps, learning_rate=a.lr, seed=a.seed)
    trainer.train()
    last = [h for h in trainer.state.log_history if "rewards/shop_r1_total/mean" in h][-1]
    summary = {c: float(last[f"rewards/shop_r1_{c}/mean"]) for c in COMPONENTS}
    print(f"{len(ds)} rows, {trainer.state.global_step} GRPO steps; last step's mean reward components:")
    for c, v in summary.items():
        print(f"  {c:9s} {v:.4f}")
    return summary


if __name__ == "__main__":
    main()
