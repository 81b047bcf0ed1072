"""``shop-r1 eval`` (score a policy against recorded humans) and ``shop-r1 compare``."""
from __future__ import annotations

import argparse
import sys

from shop_env.evaluation.runner import CONTEXTS
from shop_env.policies.openai_chat import add_api_arguments

EVAL_EPILOG = """\
policies: random | majority | rule | replay | llm:PATH_OR_NAME
  random    valid JSON, a random named element of the page (seeded)
  majority  the training split's most frequent action type
  rule      a scripted search -> first result -> add to cart shopper
  replay    oracle: the recorded action itself (upper bound; checks the harness)
  llm:X     a checkpoint saved by `shop-r1 train` or a Hugging Face model (zero-shot)
  openai:M  model M behind an OpenAI-compatible API (OpenAI, `vllm serve`, SGLang, Ollama);
            key from $OPENAI_API_KEY or --api-key-env; --max-new-tokens is its max_tokens

An interrupted run (Ctrl-C, kill, crash) resumes from OUT/steps.jsonl when started again
with the same arguments; pass --restart to start over.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="score a policy on held-out sessions (Tables 2-3, plots)",
                              epilog=EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", required=True,
                   help="random | majority | rule | replay | llm:PATH_OR_NAME | openai:MODEL")
    p.add_argument("--data", default=None, help="store folder (default: the embedded SYNTHETIC sample)")
    p.add_argument("--split", default="test", choices=("train", "test", "all"))
    p.add_argument("--context", default="whole_session", choices=CONTEXTS)
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (LLM policies)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N sessions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=None,
                   help="observations per policy call (default: 8; openai: twice --concurrency, at least 8)")
    p.add_argument("--max-chars", type=int, default=None, help="prompt budget in characters (oldest pages dropped)")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="prompt budget in tokens (counted with the llm: model's tokenizer, else estimated)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="generation limit for llm: and openai: policies")
    p.add_argument("--out", required=True, help="output folder (report.json, report.md, PNGs, steps.jsonl)")
    p.add_argument("--restart", action="store_true", help="discard partial results in --out")
    p.add_argument("--no-progress", action="store_true")
    add_api_arguments(p)
    p.set_defaults(func=run_eval)

    c = subparsers.add_parser("compare", help="side-by-side Table 2 of several report.json files")
    c.add_argument("reports", nargs="+", help="report.json files or evaluation folders")
    c.add_argument("--paper", action="store_true", help="append the paper's Table 2 rows for reference")
    c.add_argument("--plain", action="store_true", help="aligned text instead of Markdown")
    c.set_defaults(func=run_compare)


def run_eval(args: argparse.Namespace) -> int:
    from shop_env.evaluation.runner import evaluate
    from shop_env.paths import sample_data_dir
    from shop_env.policies.openai_chat import (APICallError, OpenAIChatPolicy, default_batch_size,
                                               openai_policy_from_args)

    data = args.data or str(sample_data_dir())
    try:
        if args.policy.startswith("openai:"):
            policy = openai_policy_from_args(args.policy.partition(":")[2], args)
        else:
            from agents.baselines import policy_from_spec
            llm_kwargs = {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens}
            policy = policy_from_spec(args.policy, data=data, split=args.split, seed=args.seed,
                                      temperature=args.temperature, **llm_kwargs)
    except APICallError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    batch_size = args.batch_size or (default_batch_size(policy.concurrency)
                                     if isinstance(policy, OpenAIChatPolicy) else 8)
    env_kwargs = {k: v for k, v in (("max_chars", args.max_chars), ("max_tokens", args.max_tokens)) if v is not None}
    if args.max_tokens is not None and getattr(policy, "tokenizer", None) is not None:
        env_kwargs["tokenizer"] = policy.tokenizer
    try:
        report = evaluate(policy, data, split=args.split, context=args.context, temperature=args.temperature,
                          limit=args.limit, out=args.out, resume=not args.restart, seed=args.seed,
                          batch_size=batch_size, progress=not args.no_progress, name=args.policy,
                          env_kwargs=env_kwargs)
    except APICallError as e:  # steps answered so far are logged: the same command resumes
        print(f"error: {e} (answered steps are kept in {args.out}; run the same command to resume)",
              file=sys.stderr)
        return 1
    print(report.to_markdown())
    print(f"wrote {args.out}/report.json, report.md, per_type.png, confusion.png", file=sys.stderr)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from shop_env.evaluation.compare import comparison_table, load_reports

    print(comparison_table(load_reports(args.reports), paper=args.paper, markdown=not args.plain))
    return 0
