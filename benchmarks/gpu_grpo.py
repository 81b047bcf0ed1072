"""One GRPO step at the paper's scale on a CUDA GPU: Qwen2.5-0.5B and -3B shapes, 32k-token prompts.

Builds each architecture from a ``Qwen2Config`` with random weights (nothing is
downloaded), a frozen reference copy and AdamW, then runs one step of the trainer's own
pieces (:mod:`benchmarks.grpo_step`): 8 prompts x 8 samples x 32,768 prompt tokens, each
prompt prefilled once and its KV cache shared by its 8 samples, then reference log-probs,
loss and backward one sequence at a time with gradient checkpointing (the paper configs'
settings), and the optimizer step. Weights are float32 under bf16 autocast, as
``train_grpo`` runs on CUDA. Prints step time, completion tokens/s, all tokens/s and the
peak GPU memory (``torch.cuda.max_memory_allocated``).

    python benchmarks/gpu_grpo.py                      # needs CUDA; both architectures
    python benchmarks/gpu_grpo.py --arch 3b --json
    python benchmarks/gpu_grpo.py --tiny               # CPU smoke run of the same code, seconds

Random weights rarely emit a stop token, so every completion has ``--new-tokens`` tokens.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]


def run(arch: str, args: argparse.Namespace, device: str) -> dict:
    import torch

    from grpo_step import frozen_copy, grpo_step, random_qwen2

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = random_qwen2(arch, vocab_size=args.vocab, max_positions=args.prompt_tokens + args.new_tokens,
                         device=device, dtype=getattr(torch, args.dtype))
    ref = frozen_copy(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-7)
    stats = grpo_step(model, ref, optimizer, prompts=args.prompts, group=args.group,
                      prompt_tokens=args.prompt_tokens, new_tokens=args.new_tokens, micro_batch=args.micro_batch,
                      generation_rows=args.generation_rows)
    if device == "cuda":
        torch.cuda.synchronize()
    s = stats["seconds"]
    out = {"arch": arch, "device": device, "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
           "prompts": args.prompts, "group": args.group, "prompt_tokens": args.prompt_tokens,
           "new_tokens": args.new_tokens, "step_seconds": round(s, 2),
           "generation_seconds": round(stats["generation_seconds"], 2),
           "completion_tokens_per_s": round(stats["completion_tokens"] / s, 1),
           "all_tokens_per_s": round((stats["completion_tokens"] + stats["prompt_tokens"]) / s, 1)}
    if device == "cuda":
        out["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        out["peak_gpu_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
        out["gpu"] = torch.cuda.get_device_name()
    del model, ref, optimizer
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=["0.5b", "3b"], choices=["0.5b", "3b"])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8, help="samples per prompt")
    ap.add_argument("--prompt-tokens", type=int, default=32768)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--micro-batch", type=int, default=1, help="sequences per forward/backward")
    ap.add_argument("--generation-rows", type=int, default=8, help="rows decoded at once (8: one group)")
    ap.add_argument("--vocab", type=int, default=151936)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="weights (autocast is bf16)")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run: a small model, 2 x 4 x 256 tokens")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import torch

    if args.tiny:
        device, archs = "cpu", ["small"]
        args.prompts, args.group, args.prompt_tokens, args.new_tokens, args.vocab = 2, 4, 256, 8, 4096
        torch.set_num_threads(1)
    else:
        if not torch.cuda.is_available():
            sys.exit("gpu_grpo.py needs a CUDA GPU (torch.cuda.is_available() is False); "
                     "use --tiny for the CPU smoke run, or bench_grpo_memory.py for CPU memory figures")
        device, archs = "cuda", args.arch
    for arch in archs:
        r = run(arch, args, device)
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            mem = f", peak GPU memory {r['peak_gpu_gib']} GiB" if "peak_gpu_gib" in r else ""
            print(f"{arch}: {r['params_m']}M params, {args.prompts}x{args.group} samples x {args.prompt_tokens} "
                  f"prompt tokens: step {r['step_seconds']} s (generation {r['generation_seconds']} s), "
                  f"{r['completion_tokens_per_s']} completion tokens/s, {r['all_tokens_per_s']} tokens/s{mem}",
                  flush=True)


if __name__ == "__main__":
    main()
