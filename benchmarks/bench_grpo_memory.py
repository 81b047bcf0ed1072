"""Peak memory of one GRPO step against prompt length, on the CPU.

For each prompt length (default 1k, 2k, 4k, 8k tokens) a fresh subprocess builds a
random-init small Qwen2-architecture model (hidden 128, 4 layers, GQA 4/2 heads, vocab
8,192 by default so that the vocabulary's fixed cost does not hide the prompt's), a frozen reference copy and AdamW, then runs one GRPO step on one
prompt with a group of 8 samples (generation of ``--new-tokens`` tokens, reference
log-probs, loss and backward with gradient checkpointing and micro-batch 1 as the paper
configs set, optimizer step). It reports the process's peak resident memory
(``ru_maxrss``, which counts every allocation torch makes on the CPU) and the step's part
of it (peak minus the resident memory just before the step).

    python benchmarks/bench_grpo_memory.py            # a table
    python benchmarks/bench_grpo_memory.py --json     # {"prompt_tokens": [...], "peak_mb": [...], ...}

Linear growth shows as equal increments per added token: with lengths doubling, the
increment from 4k to 8k is twice the increment from 2k to 4k (``increment_ratio`` ~ 2;
a quadratic term, e.g. a dense [N, 1, P, P] mask, pushes it towards 4).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(prompt_tokens: int, args: argparse.Namespace) -> dict:
    """Child process body: one step at ``prompt_tokens``; returns the memory figures in MB."""
    import torch

    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    from grpo_step import frozen_copy, grpo_step, random_qwen2

    torch.set_num_threads(args.threads)
    model = random_qwen2("small", vocab_size=args.vocab, max_positions=max(32768, prompt_tokens + args.new_tokens),
                         gradient_checkpointing=not args.no_checkpointing)
    ref = frozen_copy(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    before = _rss_mb()
    stats = grpo_step(model, ref, optimizer, prompts=1, group=args.group, prompt_tokens=prompt_tokens,
                      new_tokens=args.new_tokens, micro_batch=args.micro_batch, generation_rows=args.group)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"prompt_tokens": prompt_tokens, "peak_mb": peak, "step_mb": peak - before, "seconds": stats["seconds"]}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    ap.add_argument("--group", type=int, default=8, help="samples per prompt")
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=8192, help="vocabulary size (Qwen2.5: 151936)")
    ap.add_argument("--micro-batch", type=int, default=1)
    ap.add_argument("--no-checkpointing", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON object only")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args)))
        return
    rows = []
    passthrough = [a for a in sys.argv[1:] if a != "--json"]
    for n in args.lengths:
        out = subprocess.run([sys.executable, __file__, *passthrough, "--child", str(n)], check=True,
                             capture_output=True, text=True, cwd=ROOT).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        if not args.json:
            r = rows[-1]
            print(f"{n:6d} prompt tokens: peak {r['peak_mb']:8.1f} MB, step {r['step_mb']:8.1f} MB, {r['seconds']:.1f} s",
                  flush=True)
    result = {"prompt_tokens": [r["prompt_tokens"] for r in rows], "peak_mb": [round(r["peak_mb"], 1) for r in rows],
              "step_mb": [round(r["step_mb"], 1) for r in rows], "seconds": [round(r["seconds"], 2) for r in rows],
              "group": args.group, "new_tokens": args.new_tokens, "vocab": args.vocab, "measure": "ru_maxrss of a fresh process per length"}
    if len(rows) >= 3:
        s = result["step_mb"]
        result["increment_ratio"] = round((s[-1] - s[-2]) / max(s[-2] - s[-3], 1e-9), 2)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
