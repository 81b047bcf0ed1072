"""GRPO with TRL's GRPOTrainer and the Shop-R1 reward, from a tiny SFT'd model, on the CPU.

    python examples/trl_grpo.py            # tiny model: SFT, then 24 GRPO steps; ~8-10 min on 2 cores
    python examples/trl_grpo.py --task all_steps --model outputs/sft/final --steps 500 --max-chars 60000  # GPU

By default (``--task first_step``) the rows are the first step of every session (the
shopper's first search), a task a tiny model learns in minutes on a CPU. Without
``--model`` the script builds a tiny random-initialised model with a tokenizer trained on
those sessions (nothing is downloaded) and fine-tunes it with our SFT
(``agents.training.sft.train_sft``) on the same prompts. Its outputs then have the format
often enough that GRPO starts from rewards that are not all 0. The SFT model is cached
under ``$TMPDIR/shop_r1_tiny`` and reused by later runs.

Each training row is one replayed step of a recorded session (the prompt the environment
shows, plus the recorded action); the reward functions score each sampled completion with
``shop_env.reward.score_output`` and TRL logs every component
(``rewards/shop_r1_<component>/mean``). The script prints the mean reward of every step and
the mean over the first and last third of the run. TRL's reward functions never see the
policy's logits, so the self-certainty term (alpha) is not part of this reward; our own
trainer (``shop-r1 train rl``) adds it. Requires ``pip install 'shop-r1[trl]'``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

from transformers import TrainerCallback

from shop_env.integrations.trl import COMPONENTS, build_dataset, make_grpo_trainer
from shop_env.paths import sample_data_dir


def first_steps_store(data: str) -> str:
    """``data``'s train and test sessions cut to their first step (the shopper's first search), cached.

    The default CPU task: every row then asks for the same kind of action, which a tiny model
    learns in a few dozen SFT steps, so GRPO starts from rewards that are not all 0."""
    from dataclasses import replace

    from shop_env.data.store import open_store, write_store

    manifests = sorted(p.read_text() for p in Path(data).glob("*/manifest.json"))  # a changed store, a new cache
    key = hashlib.sha256(json.dumps([str(Path(data).resolve()), manifests]).encode()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / "shop_r1_tiny" / f"first-steps-{key}"
    for split in ("train", "test"):
        if not (out / split / "manifest.json").exists():
            sessions = (replace(s, steps=s.steps[:1]) for s in open_store(data, split=split))
            write_store(out / split, sessions, source="first-steps", synthetic=open_store(data, split=split).synthetic,
                        description=f"first step of every session of {data} ({split})")
    return str(out)


def sft_tiny_model(data: str, *, context: str, max_chars: int, steps: int, lr: float, seed: int) -> Path:
    """A tiny model SFT'd on ``data``'s train split with the prompts GRPO uses; cached by its settings."""
    from dataclasses import fields

    from agents.training.sft import SFTConfig, train_sft
    from agents.training.tiny import cached_tiny_model

    base = cached_tiny_model(data=data, compact=True, seed=seed)
    settings = dict(model=str(base), data=data, split="train", context=context, max_chars=max_chars,
                    max_steps=steps, lr=lr, batch_size=8, grad_accum=1, max_length=2048, warmup_ratio=0.0,
                    seed=seed, tensorboard=False)
    if "sft_format" in {f.name for f in fields(SFTConfig)}:
        settings["sft_format"] = "per_step"  # train on exactly the prompt GRPO samples from
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    out = Path(tempfile.gettempdir()) / "shop_r1_tiny" / f"trl-example-sft-{key}"
    if (out / "final" / "config.json").exists():
        return out / "final"
    return train_sft(SFTConfig(out=str(out), **settings))



class _RewardPrinter(TrainerCallback):
    """Prints each GRPO step's mean reward components as TRL logs them, and keeps them."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "rewards/shop_r1_total/mean" not in logs:
            return
        row = {c: float(logs.get(f"rewards/shop_r1_{c}/mean", float("nan"))) for c in COMPONENTS}
        self.rows.append(row)
        print(f"{len(self.rows):4d}  {row['total']:6.2f}  {row['format']:6.2f}{'':27s}{row['exact_match']:5.2f}",
              flush=True)

def main(argv: list[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="HF model path (default: SFT a tiny model on --data first)")
    p.add_argument("--data", default=str(sample_data_dir()), help="session store folder")
    p.add_argument("--split", default="train")
    p.add_argument("--task", default="first_step", choices=["first_step", "all_steps"],
                   help="first_step: only each session's first step (learns in minutes on a CPU); all_steps: every step")
    p.add_argument("--context", default="latest_step", choices=["whole_session", "latest_step"])
    p.add_argument("--max-chars", type=int, default=1000, help="prompt budget (TRL does not truncate prompts)")
    p.add_argument("--rows", type=int, default=None, help="use only the first N replayed steps")
    p.add_argument("--sft-steps", type=int, default=160, help="SFT steps for the tiny model (without --model)")
    p.add_argument("--sft-lr", type=float, default=5e-3)
    p.add_argument("--steps", type=int, default=24, help="GRPO steps")
    p.add_argument("--num-generations", type=int, default=8)
    p.add_argument("--prompts-per-step", type=int, default=2)
    p.add_argument("--max-completion-length", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--out", default=None, help="output folder (default: a temporary folder)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    start = time.perf_counter()
    if a.task == "first_step":
        a.data = first_steps_store(a.data)
    model = a.model
    if model is None:
        model = str(sft_tiny_model(a.data, context=a.context, max_chars=a.max_chars, steps=a.sft_steps,
                                   lr=a.sft_lr, seed=a.seed))
        print(f"SFT'd tiny model: {model}")
    ds = build_dataset(a.data, split=a.split, context=a.context, max_chars=a.max_chars, limit=a.rows)
    ds = ds.shuffle(seed=a.seed)
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="shop_r1_trl_"))
    print(f"{len(ds)} rows; GRPO: {a.steps} steps of {a.prompts_per_step} prompts x {a.num_generations} samples")
    print("step  reward  format (0.5 per valid output)  exact match")
    printer = _RewardPrinter()
    trainer = make_grpo_trainer(model, ds, output_dir=out, num_generations=a.num_generations,
                                prompts_per_step=a.prompts_per_step, max_completion_length=a.max_completion_length,
                                max_steps=a.steps, learning_rate=a.lr, temperature=a.temperature, seed=a.seed,
                                use_cpu=True, log_level="warning", callbacks=[printer])
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # _RewardPrinter replaces TRL's per-step log dicts
    trainer.train()
    curve = [row["total"] for row in printer.rows]
    third = max(1, len(curve) // 3)
    first, last = sum(curve[:third]) / third, sum(curve[-third:]) / third
    print(f"mean reward: first {third} steps {first:.2f}, last {third} steps {last:.2f}; "
          f"wall time {time.perf_counter() - start:.0f} s")
    return {"curve": curve, "first": first, "last": last, "last_step": printer.rows[-1]}


if __name__ == "__main__":
    main()
