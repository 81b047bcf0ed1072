"""``shop-r1 train``: SFT, GRPO (RL) and the tiny CPU model, driven by the paper's settings.

Examples::

    shop-r1 train settings                                  # list the paper settings
    shop-r1 train tiny-model outputs/tiny                   # tiny model + local tokenizer
    shop-r1 train sft --preset cpu --model outputs/tiny --out outputs/sft       # minutes on a 2-core CPU
    shop-r1 train rl  --preset cpu --model outputs/sft/final --out outputs/rl
    shop-r1 train rl  --config shop_r1 --model Qwen/Qwen2.5-0.5B-Instruct --lora --out outputs/rl
    accelerate launch --multi_gpu --num_processes 8 $(which shop-r1) train rl --config shop_r1 \
        --model Qwen/Qwen2.5-3B-Instruct --out outputs/rl             # multi-GPU (DDP)
    torchrun --nproc_per_node 2 $(which shop-r1) train rl ...         # the same, also on CPU (gloo)

Under several processes each takes its own ``prompts_per_step`` prompts per step (global
batch = processes x prompts_per_step prompts, each sampled num_generations times; the
paper's batch of 64 counts prompts); rank 0 logs and checkpoints.

Without ``--preset`` a setting runs at the paper's sizes (32k-token prompts, 64 prompts x
8 samples per RL step: a GPU job). ``--preset cpu`` keeps the setting's method and makes
it fit a 2-core, 24 GB CPU in minutes (latest-step context, 6,000-character prompts,
small batches; sized for the tiny model). ``--set key=value`` overrides any
SFTConfig/GRPOConfig field after the preset (value parsed as JSON when it can be).
An ``--out`` that holds a run with other settings is refused.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from shop_env.prompts import CONTEXT_MODES


def _parse_sets(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="shop_r1", help="setting name (see `shop-r1 train settings`) or JSON path")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="hardware preset applied over the setting: cpu (2 cores, minutes, tiny model)")
    p.add_argument("--model", required=True, help="HF model name or local dir (e.g. Qwen/Qwen2.5-0.5B-Instruct)")
    p.add_argument("--data", default=None, help="session store dir (default: the embedded synthetic sample)")
    p.add_argument("--split", default=None, help="train | test | all (default train)")
    p.add_argument("--out", required=True, help="output dir (checkpoints, metrics.jsonl, tb/, final/)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="optimizer steps (default: the setting's: 500 for RL, SFT from its epochs)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the setting's)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: the setting's)")
    p.add_argument("--device", default=None, help="auto (CUDA when present) | cpu | cuda:N (default: auto)")
    p.add_argument("--context", choices=CONTEXT_MODES, default=None,
                   help="prompt context (default: the setting's)")
    p.add_argument("--lora", action="store_true", help="train a LoRA adapter (peft) instead of all weights")
    p.add_argument("--gradient-checkpointing", action="store_true", help="trade compute for activation memory")
    p.add_argument("--no-resume", action="store_true", help="ignore checkpoints in --out")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config field")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    o = {"model": args.model, "data": args.data, "split": args.split, "out": args.out,
         "max_steps": args.max_steps, "lr": args.lr, "seed": args.seed, "device": args.device,
         "context": args.context}
    if args.lora:
        o["lora"] = True
    if args.gradient_checkpointing:
        o["gradient_checkpointing"] = True
    if args.no_resume:
        o["resume"] = False
    return o


def _friendly(fn):
    """Report configuration errors as one line on stderr (exit 2) instead of a traceback."""
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (ValueError, TypeError, OSError) as e:  # DataError is a ValueError
            print(f"shop-r1 train: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                  file=sys.stderr)
            return 2
    return run


def _check_model(model: str) -> None:
    """A local ``--model`` must be a saved model folder; anything else is left to the hub loader."""
    p = Path(model)
    looks_local = p.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1
    if looks_local and not (p / "config.json").is_file():
        raise ValueError(f"--model {model!r} is not a model folder (no config.json there)")


def _prepare(args: argparse.Namespace, config: Any, kind: str) -> None:
    """Check the model and the data before ``--out`` records the run, so that a mistyped
    path or split leaves nothing behind that would refuse the corrected command."""
    from agents.training.settings import check_run_dir
    from shop_env.data.store import open_store
    from shop_env.paths import sample_data_dir

    _check_model(config.model)
    open_store(config.data or sample_data_dir(), split=config.split)
    # under torchrun every process gets here at once: the first records the run
    check_run_dir(config.out, config, kind, record=os.environ.get("RANK", "0") == "0")


def _run_sft(args: argparse.Namespace) -> int:
    from agents.training.settings import load_setting, sft_config
    from agents.training.sft import train_sft

    config = sft_config(load_setting(args.config), args.preset, sets=_parse_sets(args.set), **_overrides(args))
    _prepare(args, config, "sft")
    print(f"SFT finished: {train_sft(config)}")
    return 0


def _run_rl(args: argparse.Namespace) -> int:
    from agents.training.settings import grpo_config, load_setting
    from agents.training.grpo import train_grpo

    o = _overrides(args)
    if args.num_generations is not None:
        o["num_generations"] = args.num_generations
    config = grpo_config(load_setting(args.config), args.preset, sets=_parse_sets(args.set), **o)
    _prepare(args, config, "grpo")
    print(f"GRPO finished: {train_grpo(config)}")
    return 0


def _run_tiny(args: argparse.Namespace) -> int:
    from agents.training.tiny import build_tiny_model

    path = build_tiny_model(args.out, data=args.data, vocab_size=args.vocab_size, hidden_size=args.hidden_size,
                            num_layers=args.layers, arch=args.arch, seed=args.seed)
    print(f"tiny model written to {path}")
    return 0


def _run_settings(args: argparse.Namespace) -> int:
    from agents.training.settings import list_settings, load_setting

    for name in list_settings():
        s = load_setting(name)
        stages = "+".join(x for x, v in (("SFT", s.sft), ("RL:" + str((s.rl or {}).get("reward")), s.rl)) if v) or "none"
        print(f"{name:15s} {stages:22s} {s.description}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` with ``sft``, ``rl``, ``tiny-model`` and ``settings``."""
    train = subparsers.add_parser("train", help="SFT / GRPO training and the tiny CPU model",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = train.add_subparsers(dest="train_command", metavar="STAGE")
    sft = sub.add_parser("sft", help="supervised cold start on the environment's prompts")
    _common(sft)
    sft.set_defaults(func=_friendly(_run_sft))
    rl = sub.add_parser("rl", help="GRPO with the Shop-R1 reward (or an ablation)")
    _common(rl)
    rl.add_argument("--num-generations", type=int, default=None,
                    help="samples per prompt (default: the setting's; 8 in the paper settings, 4 with --preset cpu)")
    rl.set_defaults(func=_friendly(_run_rl))
    tiny = sub.add_parser("tiny-model", help="build a tiny random-init model + locally trained tokenizer")
    tiny.add_argument("out", help="folder for the model and tokenizer")
    tiny.add_argument("--data", default=None, help="store whose texts train the tokenizer (default: sample)")
    tiny.add_argument("--vocab-size", type=int, default=2048, help="tokenizer vocabulary")
    tiny.add_argument("--hidden-size", type=int, default=64, help="model width")
    tiny.add_argument("--layers", type=int, default=2, help="transformer layers")
    tiny.add_argument("--arch", choices=["llama", "qwen2"], default="llama", help="model architecture")
    tiny.add_argument("--seed", type=int, default=0, help="initialisation seed")
    tiny.set_defaults(func=_friendly(_run_tiny))
    st = sub.add_parser("settings", help="list the paper's settings")
    st.set_defaults(func=_run_settings)
    train.set_defaults(func=lambda a: (train.print_help(), 2)[1])
