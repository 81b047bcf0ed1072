"""``shop-r1 eval`` (score a policy against recorded humans) and ``shop-r1 compare``."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shop_env.cli.policies import POLICY_HELP, PolicyContext, PolicySpecError, resolve_policy
from shop_env.data.store import SPLITS
from shop_env.policies.openai_chat import add_api_arguments
from shop_env.prompts import CONTEXT_MODES

EVAL_EPILOG = """\
policies: random | majority | rule | replay | llm:PATH_OR_NAME | MODULE:CLASS | FILE.py:CLASS
  random         valid JSON, a random named element of the page (seeded)
  majority       the training split's most frequent action type
  rule           a scripted search -> first result -> add to cart shopper
  replay         oracle: the recorded action itself (upper bound; checks the harness)
  llm:X          a checkpoint saved by `shop-r1 train` or a Hugging Face model (zero-shot)
  openai:M       model M behind an OpenAI-compatible API (OpenAI, `vllm serve`, SGLang, Ollama);
                 key from $OPENAI_API_KEY or --api-key-env; --max-new-tokens is its max_tokens
  MODULE:CLASS   your own policy class, e.g. my_agents:PersonaAgent (module in . or on PYTHONPATH)
  FILE.py:CLASS  your own policy class loaded from a file, e.g. examples/custom_policy.py:PersonaShopper
                 (built with --policy-kwargs as keyword arguments; needs
                 act(observations, infos) -> list[str], see shop_env.policy.Policy)

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
    p.add_argument("--policy", required=True, help=POLICY_HELP + " (see below)")
    p.add_argument("--policy-kwargs", type=_json_object, default={}, metavar="JSON",
                   help='keyword arguments for the policy\'s constructor, a JSON object, e.g. \'{"seed": 3}\'')
    p.add_argument("--data", default=None, help="store folder (default: the embedded SYNTHETIC sample)")
    p.add_argument("--split", default="test", choices=SPLITS, help="which sessions to evaluate on")
    p.add_argument("--context", default="whole_session", choices=CONTEXT_MODES,
                   help="prompt context: every page so far, or only the current page")
    p.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature for llm: and custom policies with a temperature "
                        "(default: the policy's own, 0.6 for llm:)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N sessions (default: all)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the random policy, resets and sampling (default 0; sent to an openai: "
                        "server only when given)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="sessions run side by side: observations per policy call (default: 8; openai: "
                        "twice --concurrency, at least 8, each request sent as soon as its step is ready)")
    p.add_argument("--max-chars", type=int, default=None,
                   help="prompt budget in characters, oldest pages dropped first (default: no budget)")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="prompt budget in tokens, counted with the llm: model's tokenizer, else estimated "
                        "(default: no budget)")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="generation limit for llm: and openai: policies (default: the agent's own)")
    p.add_argument("--out", required=True, help="output folder (report.json, report.md, PNGs, steps.jsonl)")
    p.add_argument("--restart", action="store_true", help="discard partial results in --out and start over")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--live", action="store_true", help="closed loop on ShopR1Live-v0: session-level fidelity")
    p.add_argument("--episodes", type=int, default=100, help="--live: number of episodes")
    p.add_argument("--live-split", default="test", help="--live: generator split the personas come from")
    p.add_argument("--max-steps", type=int, default=30, help="--live: steps before an episode is truncated")
    add_api_arguments(p)
    p.set_defaults(func=run_eval)

    c = subparsers.add_parser("compare", help="side-by-side Table 2 of several report.json files")
    c.add_argument("reports", nargs="+", help="report.json files or evaluation folders")
    c.add_argument("--paper", action="store_true", help="append the paper's Table 2 rows for reference")
    c.add_argument("--plain", action="store_true", help="aligned text instead of Markdown")
    c.set_defaults(func=run_compare)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e.msg} at char {e.pos}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object like '{{\"seed\": 3}}', got {text!r}")
    return value


def run_eval(args: argparse.Namespace) -> int:
    if args.live:
        return run_live_eval(args)
    from shop_env.cli import require_folder
    from shop_env.data.store import open_store
    from shop_env.evaluation.runner import EvalSettings, evaluate
    from shop_env.paths import sample_data_dir

    data = require_folder(args.data, "--data") if args.data else str(sample_data_dir())
    store = open_store(data, split=args.split)  # bad data fails here, before a model is loaded
    policy = _policy(args, data, args.split)
    env_kwargs = {k: v for k, v in (("max_chars", args.max_chars), ("max_tokens", args.max_tokens)) if v is not None}
    if args.max_tokens is not None and getattr(policy, "tokenizer", None) is not None:
        env_kwargs["tokenizer"] = policy.tokenizer
    settings = EvalSettings(split=args.split, context=args.context, temperature=args.temperature,
                            limit=args.limit, seed=_seed(args), batch_size=_batch_size(args, policy),
                            resume=not args.restart, progress=not args.no_progress, name=args.policy,
                            env_kwargs=env_kwargs)
    from shop_env.policies.openai_chat import APICallError
    try:
        report = evaluate(policy, store, settings, out=args.out)
    except APICallError as e:  # steps answered so far are logged: the same command resumes
        raise APICallError(f"{e} (answered steps are kept in {args.out}; run the same command to resume)") from e
    finally:
        store.close()
    print(report.to_markdown())
    print(f"wrote {args.out}/report.json, report.md, per_type.png, confusion.png", file=sys.stderr)
    return 0


def _policy(args: argparse.Namespace, data: Any, split: str) -> Any:
    """The policy ``--policy`` names, with the options that apply to it."""
    if args.policy.startswith("openai:"):
        from shop_env.policies.openai_chat import openai_policy_from_args
        return openai_policy_from_args(args.policy.partition(":")[2], args)
    kwargs = dict(args.policy_kwargs)
    if args.max_new_tokens is not None:
        if not args.policy.startswith("llm:"):
            raise PolicySpecError("--max-new-tokens applies to llm: and openai: policies only")
        kwargs["max_new_tokens"] = args.max_new_tokens
    return resolve_policy(args.policy, PolicyContext(data=data, split=split, seed=_seed(args),
                                                     temperature=args.temperature, kwargs=kwargs))


def _seed(args: argparse.Namespace) -> int:
    """``--seed``, 0 when not given (an openai: policy sends a seed only when it was given)."""
    return 0 if args.seed is None else args.seed


def _batch_size(args: argparse.Namespace, policy: Any) -> int:
    if args.batch_size is not None:
        return args.batch_size
    concurrency = getattr(policy, "concurrency", None)
    if concurrency is None:
        return 8
    from shop_env.policies.openai_chat import default_batch_size
    return default_batch_size(concurrency)


def run_live_eval(args: argparse.Namespace) -> int:
    """``shop-r1 eval --live``: closed-loop episodes and their fidelity to the shopper's sessions."""
    from shop_env.evaluation.live import evaluate_live
    from shop_env.synth.policy import ShopperPolicy

    if args.policy == "shopper":
        policy = ShopperPolicy(seed=_seed(args))
    else:
        from shop_env.paths import sample_data_dir

        if args.policy == "replay":
            raise PolicySpecError("--policy replay needs recorded sessions; it has no meaning with --live")
        policy = _policy(args, args.data or str(sample_data_dir()), "test")
    env_kwargs = {k: v for k, v in (("max_chars", args.max_chars), ("max_tokens", args.max_tokens)) if v is not None}
    if args.max_tokens is not None and getattr(policy, "tokenizer", None) is not None:
        env_kwargs["tokenizer"] = policy.tokenizer
    report = evaluate_live(policy, args.episodes, split=args.live_split, max_steps=args.max_steps,
                           context=args.context, seed=_seed(args), batch_size=_batch_size(args, policy), out=args.out,
                           progress=not args.no_progress, name=args.policy, env_kwargs=env_kwargs)
    print(report.to_markdown())
    print(f"wrote {args.out}/report.json, report.md, fidelity.png", file=sys.stderr)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from shop_env.evaluation.compare import comparison_table, load_reports

    print(comparison_table(load_reports(args.reports), paper=args.paper, markdown=not args.plain))
    return 0
