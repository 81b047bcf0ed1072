"""``shop-r1 reproduce``: the paper's Table 2 rows (zero-shot, SFT, SFT + binary RL, Shop-R1, rule)
for a small model on synthetic training data, over seeds, on the CPU.

Examples::

    shop-r1 reproduce --out outputs/reproduce --seeds 3 --jobs 3   # what `make reproduce` runs
    shop-r1 reproduce --out /tmp/dev --seeds 1 --eval-on val   # choose sizes on validation data
    shop-r1 reproduce --out /tmp/r --seeds 1 --quick           # seconds-long smoke run

Training data are synthetic sessions from the train population of ``shop-r1 data synth``'s
store; evaluation is the embedded sample's test split, and no test session may be in the
training data (checked before training). ``OUT/table2.json`` maps each row to ``exact``,
``type_accuracy`` and ``type_macro_f1`` as ``{value, ci_low, ci_high}`` (pooled over seeds
and test steps; 95% bootstrap over seeds and test sessions). Reruns with the same ``--out``
reuse finished models and evaluations.
"""
from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("reproduce", help="Table 2 over seeds: zero-shot, SFT, SFT+binary RL, Shop-R1, rule",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for data, models, evaluations and table2.json")
    p.add_argument("--seeds", type=int, default=3, help="training seeds (default 3)")
    p.add_argument("--eval-on", choices=["test", "val"], default="test",
                   help="test: the sample's test split (default); val: validation sessions from the train population")
    p.add_argument("--quick", action="store_true", help="seconds-long smoke sizes")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a size (see ReproduceSettings)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (with --jobs 1)")
    p.add_argument("--jobs", type=int, default=1,
                   help="seeds trained at once, each in its own process with one thread (default 1; "
                        "make reproduce uses 3, one per seed); the table does not depend on it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agents.training.reproduce import FULL, QUICK, run_reproduce, settings_with

    try:
        changes = {}
        for item in args.set or []:
            key, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
            try:
                changes[key.strip()] = json.loads(raw)
            except json.JSONDecodeError:
                changes[key.strip()] = raw
        settings = settings_with(QUICK if args.quick else FULL, **changes)
        import torch
        torch.set_num_threads(max(1, args.threads))
        run_reproduce(args.out, seeds=args.seeds, settings=settings, eval_on=args.eval_on,
                      say=lambda m: print(m, flush=True), jobs=args.jobs)
    except ValueError as e:
        print(f"shop-r1 reproduce: error: {e}", file=sys.stderr)
        return 2
    return 0
