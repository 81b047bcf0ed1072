"""Benchmark: evaluation steps/s of an API policy at concurrency 1, 4 and 16.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_api_policy.py [--latency-ms 50] [--steps 800] [--repeat 3]

A scripted chat-completions server (``tests/chat_server.py``) runs in its own process on
127.0.0.1 and answers every request after a fixed latency with a well-formed action, so
the environment parses and scores every output. ``evaluate`` runs
:class:`shop_env.policies.OpenAIChatPolicy` over the embedded sample (train split,
whole-session prompts, ~27 KB per request) with an output folder (steps fsync'ed per
batch, as the CLI does) and the batch size the CLI picks (``default_batch_size``: twice
the concurrency, at least 8).
Steps/s is counted over the loop (first request to last answer), not the report and plots
written after it; each row is the best of ``--repeat`` runs (other load on a small machine
only ever slows a run down).

Columns that say what limits the rate: ``outside act`` is the share of the loop spent in
the environment, scoring and the step log (everything but waiting for the API);
``mean batch`` is observations per ``act`` call against the batch size (the runner steps
each session in order in one slot, so batches shrink as the last, longest sessions
finish); ``policy alone`` is ``policy.act`` over the same prompts in full batches,
without the environment. Peer measured in the same run: the same loop with an instant local policy
(no HTTP), the most the environment, scoring and step log allow.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shop_env.data.store import open_store  # noqa: E402
from shop_env.env import ShopSessionEnv  # noqa: E402
from shop_env.evaluation.runner import evaluate  # noqa: E402
from shop_env.paths import sample_data_dir  # noqa: E402
from shop_env.policies import OpenAIChatPolicy, default_batch_size  # noqa: E402
from shop_env.policy import as_policy  # noqa: E402

ANSWER = ('{"rationale": "I want to see this product.", '
          '"action": {"type": "click", "name": "search_results.item_0.product_title"}}')


def _serve(latency_s: float, urls: Any, stop: Any) -> None:
    from tests.chat_server import ChatServer, Reply, completion

    with ChatServer(lambda request, n: Reply(completion(ANSWER), delay_s=latency_s)) as server:
        urls.put(server.url)
        stop.wait()


class Timed:
    """Wraps a policy: when the first ``act`` started, the last returned, and the time in ``act``."""

    def __init__(self, policy: Any) -> None:
        self.policy = as_policy(policy)
        self.name = getattr(self.policy, "name", "policy")
        self.first: float | None = None
        self.last = self.in_act = 0.0
        self.steps = self.calls = 0

    def act(self, observations: Sequence[str], infos: Sequence[dict]) -> list[str]:
        start = time.perf_counter()
        self.first = self.first or start
        out = self.policy.act(observations, infos)
        self.last = time.perf_counter()
        self.in_act += self.last - start
        self.steps += len(out)
        self.calls += 1
        return out

    def last_call_stats(self) -> list[dict]:
        stats = getattr(self.policy, "last_call_stats", None)
        return stats() if stats else []


def sessions_for(store: Any, n_steps: int) -> int:
    """How many sessions from the start of ``store`` hold at least ``n_steps`` steps."""
    total = 0
    for i in range(len(store)):
        total += store.n_steps(i)
        if total >= n_steps:
            return i + 1
    return len(store)


def run(policy: Any, data: str, split: str, limit: int, batch_size: int) -> tuple[float, float, float, Any]:
    """``(steps/s over the loop, share of the loop outside act, mean batch, report)``."""
    timed = Timed(policy)
    with tempfile.TemporaryDirectory() as out:
        report = evaluate(timed, data, split=split, limit=limit, out=out, batch_size=batch_size)
    loop = timed.last - timed.first
    return timed.steps / loop, 1.0 - timed.in_act / loop, timed.steps / timed.calls, report


def prompts(store: Any, n: int) -> list[tuple[str, dict]]:
    """The first ``n`` steps' observations and infos, as the evaluation sends them."""
    env, out = ShopSessionEnv(store), []
    for i in range(len(store)):
        for k in range(store.n_steps(i)):
            out.append(env.reset(options={"session_index": i, "step": k}))
            if len(out) == n:
                return out
    return out


def policy_alone(policy: Any, steps: list[tuple[str, dict]], batch_size: int) -> float:
    """Requests/s of ``policy.act`` over ``steps`` in batches, without the environment."""
    start = time.perf_counter()
    for j in range(0, len(steps), batch_size):
        batch = steps[j:j + batch_size]
        policy.act([o for o, _ in batch], [i for _, i in batch])
    return len(steps) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--steps", type=int, default=800, help="steps per run at the highest concurrency (fewer below)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--repeat", type=int, default=3, help="runs per row; the best is shown")
    args = ap.parse_args()
    data, split = str(sample_data_dir()), "train"
    store = open_store(data, split=split)

    urls, stop = mp.Queue(), mp.Event()
    server = mp.Process(target=_serve, args=(args.latency_ms / 1000.0, urls, stop), daemon=True)
    server.start()
    try:
        url = urls.get(timeout=60)
        print(f"server {url} (own process), {args.latency_ms:g} ms per request; sample data ({split} split), "
              f"whole-session prompts; best of {args.repeat}")
        print(f"{'concurrency':>11} {'steps':>6} {'steps/s':>8} {'x conc. 1':>10} {'ideal':>6} "
              f"{'p50 ms':>7} {'p95 ms':>7} {'outside act':>12} {'mean batch':>11} {'policy alone req/s':>19}")
        base = None
        for c in args.concurrency:
            n = max(args.steps * c // max(args.concurrency), 40)  # about the same wall time per row
            limit, batch = sessions_for(store, n), default_batch_size(c)
            with OpenAIChatPolicy("bench", base_url=url, api_key="local", concurrency=c, timeout_s=30) as policy:
                rate, outside, mean_batch, report = max((run(policy, data, split, limit, batch) for _ in range(args.repeat)),
                                            key=lambda r: r[0])
                alone = max(policy_alone(policy, prompts(store, report.n_steps), batch) for _ in range(args.repeat))
            api = report.extra["api"]
            base = base or rate
            print(f"{c:>11} {report.n_steps:>6} {rate:>8.1f} {rate / base:>9.2f}x {c:>5}x "
                  f"{1000 * api['latency_p50_s']:>7.1f} {1000 * api['latency_p95_s']:>7.1f} "
                  f"{100 * outside:>11.1f}% {mean_batch:>6.1f}/{batch:<4} {alone:>19.1f}")
    finally:
        stop.set()
        server.join(timeout=10)

    limit = sessions_for(store, 4 * args.steps)
    rate = max(run(lambda obs: ANSWER, data, split, limit, 16)[0] for _ in range(args.repeat))
    print(f"peer: instant local policy (environment + scoring + step log only), batch 16: {rate:.0f} steps/s "
          f"= {rate * args.latency_ms / 1000.0:.0f}x one request at a time at {args.latency_ms:g} ms")


if __name__ == "__main__":
    main()
