"""``shop-r1 eval`` (score a policy against recorded humans) and ``shop-r1 compare``."""
from __future__ import annotations

import argparse
import sys

from shop_env.evaluation.runner import CONTEXTS

EVAL_EPILOG = """\
policies: random | majority | rule | replay | llm:PATH_OR_NAME
  random    valid JSON, a random named element of the page (seeded)
  majority  the training split's most frequent action type
  rule      a scripted search -> first result -> add to cart shopper
  replay    oracle: the recorded action itself (upper bound; checks the harness)
  llm:X     a checkpoint saved by `shop-r1 train` or a Hugging Face model (zero-shot)

An interrupted run (Ctrl-C, kill, crash) resumes from OUT/steps.jsonl when started again
with the same arguments; pass --restart to start over.

--live: closed loop on ShopR1Live-v0 instead of replay. Runs --episodes episodes (split
--live-split, default test) and compares the sessions with the synthetic shopper's for the
same personas (report.json `fidelity`, report.md, fidelity.png). Extra policy: shopper (the
synthetic shopper itself; near-zero distance by construction).
  shop-r1 eval --live --policy shopper --episodes 100 --out runs/live-shopper
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="score a policy on held-out sessions (Tables 2-3, plots)",
                              epilog=EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", required=True, help="random | majority | rule | replay | llm:PATH_OR_NAME")
    p.add_argument("--data", default=None, help="store folder (default: the embedded SYNTHETIC sample)")
    p.add_argument("--split", default="test", choices=("train", "test", "all"))
    p.add_argument("--context", default="whole_session", choices=CONTEXTS)
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (LLM policies)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N sessions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=8, help="observations per policy call")
    p.add_argument("--max-chars", type=int, default=None, help="prompt budget in characters (oldest pages dropped)")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="prompt budget in tokens (counted with the llm: model's tokenizer, else estimated)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="generation limit for llm: policies")
    p.add_argument("--out", required=True, help="output folder (report.json, report.md, PNGs, steps.jsonl)")
    p.add_argument("--restart", action="store_true", help="discard partial results in --out")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--live", action="store_true", help="closed loop on ShopR1Live-v0: session-level fidelity")
    p.add_argument("--episodes", type=int, default=100, help="--live: number of episodes")
    p.add_argument("--live-split", default="test", help="--live: generator split the personas come from")
    p.add_argument("--max-steps", type=int, default=30, help="--live: steps before an episode is truncated")
    p.set_defaults(func=run_eval)

    c = subparsers.add_parser("compare", help="side-by-side Table 2 of several report.json files")
    c.add_argument("reports", nargs="+", help="report.json files or evaluation folders")
    c.add_argument("--paper", action="store_true", help="append the paper's Table 2 rows for reference")
    c.add_argument("--plain", action="store_true", help="aligned text instead of Markdown")
    c.set_defaults(func=run_compare)


def run_eval(args: argparse.Namespace) -> int:
    if args.live:
        return run_live_eval(args)
    from agents.baselines import policy_from_spec
    from shop_env.evaluation.runner import evaluate
    from shop_env.paths import sample_data_dir

    data = args.data or str(sample_data_dir())
    llm_kwargs = {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens}
    policy = policy_from_spec(args.policy, data=data, split=args.split, seed=args.seed,
                              temperature=args.temperature, **llm_kwargs)
    env_kwargs = {k: v for k, v in (("max_chars", args.max_chars), ("max_tokens", args.max_tokens)) if v is not None}
    if args.max_tokens is not None and getattr(policy, "tokenizer", None) is not None:
        env_kwargs["tokenizer"] = policy.tokenizer
    report = evaluate(policy, data, split=args.split, context=args.context, temperature=args.temperature,
                      limit=args.limit, out=args.out, resume=not args.restart, seed=args.seed,
                      batch_size=args.batch_size, progress=not args.no_progress, name=args.policy,
                      env_kwargs=env_kwargs)
    print(report.to_markdown())
    print(f"wrote {args.out}/report.json, report.md, per_type.png, confusion.png", file=sys.stderr)
    return 0


def run_live_eval(args: argparse.Namespace) -> int:
    """``shop-r1 eval --live``: closed-loop episodes and their fidelity to the shopper's sessions."""
    from shop_env.evaluation.live import evaluate_live
    from shop_env.synth.policy import ShopperPolicy

    if args.policy == "shopper":
        policy = ShopperPolicy(seed=args.seed)
    else:
        from agents.baselines import policy_from_spec
        from shop_env.paths import sample_data_dir

        if args.policy == "replay":
            raise SystemExit("error: --policy replay needs recorded sessions; it has no meaning with --live")
        kwargs = {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens}
        policy = policy_from_spec(args.policy, data=args.data or str(sample_data_dir()), seed=args.seed,
                                  temperature=args.temperature, **kwargs)
    env_kwargs = {k: v for k, v in (("max_chars", args.max_chars), ("max_tokens", args.max_tokens)) if v is not None}
    if args.max_tokens is not None and getattr(policy, "tokenizer", None) is not None:
        env_kwargs["tokenizer"] = policy.tokenizer
    report = evaluate_live(policy, args.episodes, split=args.live_split, max_steps=args.max_steps,
                           context=args.context, seed=args.seed, batch_size=args.batch_size, out=args.out,
                           progress=not args.no_progress, name=args.policy, env_kwargs=env_kwargs)
    print(report.to_markdown())
    print(f"wrote {args.out}/report.json, report.md, fidelity.png", file=sys.stderr)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from shop_env.evaluation.compare import comparison_table, load_reports

    print(comparison_table(load_reports(args.reports), paper=args.paper, markdown=not args.plain))
    return 0
