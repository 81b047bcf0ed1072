"""Benchmark: evaluation steps/s of an API policy at concurrency 1, 4 and 16.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_api_policy.py [--latency-ms 50] [--steps 800] [--repeat 3]

A scripted chat-completions server (``tests/chat_server.py``) runs in its own process on
127.0.0.1 and answers every request after a fixed latency with a well-formed action, so
the environment parses and scores every output. ``evaluate`` runs
:class:`shop_env.policies.OpenAIChatPolicy` over the embedded sample (train split,
whole-session prompts, ~27 KB per request) with an output folder (each step fsync'ed, as
the CLI does) and the number of sessions side by side the CLI picks
(``default_batch_size``: twice the concurrency, at least 8). The policy is streamed: each
request goes out as soon as its step is ready.
Steps/s is counted over the loop (first request to last answer), not the report and plots
written after it; each row is the best of ``--repeat`` runs (other load on a small machine
only ever slows a run down).

Columns that say what limits the rate: ``in flight`` is the mean number of requests in
flight over the loop (the sum of the latencies over the loop's time; at most the
concurrency); ``policy alone`` is the policy over the same prompts, all submitted at once,
without the environment. Peer measured in the same run: the same loop with an instant local
policy (no HTTP), the most the environment, scoring and step log allow.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shop_env.data.store import open_store  # noqa: E402
from shop_env.env import ShopSessionEnv  # noqa: E402
from shop_env.evaluation.results import read_step_log  # noqa: E402
from shop_env.evaluation.runner import evaluate  # noqa: E402
from shop_env.paths import sample_data_dir  # noqa: E402
from shop_env.policies import OpenAIChatPolicy, default_batch_size  # noqa: E402

ANSWER = ('{"rationale": "I want to see this product.", '
          '"action": {"type": "click", "name": "search_results.item_0.product_title"}}')


def _serve(latency_s: float, urls: Any, stop: Any) -> None:
    from tests.chat_server import ChatServer, Reply, completion

    with ChatServer(lambda request, n: Reply(completion(ANSWER), delay_s=latency_s)) as server:
        urls.put(server.url)
        stop.wait()


class Timed:
    """Wraps a streaming policy: when the first request was submitted and the last answered."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.name = policy.name
        self.concurrency = policy.concurrency
        self.first: float | None = None
        self.last = 0.0
        self.steps = 0

    def act(self, observations: Sequence[str], infos: Sequence[dict]) -> list[str]:
        return [self.submit(o, i).result().text for o, i in zip(observations, infos)]

    def submit(self, observation: str, info: dict) -> Future:
        self.first = self.first or time.perf_counter()
        future = self.policy.submit(observation, info)
        future.add_done_callback(self._answered)
        return future

    def _answered(self, future: Future) -> None:
        self.last = time.perf_counter()
        self.steps += 1

    def cancel(self) -> None:
        self.policy.cancel()


def sessions_for(store: Any, n_steps: int) -> int:
    """How many sessions from the start of ``store`` hold at least ``n_steps`` steps."""
    total = 0
    for i in range(len(store)):
        total += store.n_steps(i)
        if total >= n_steps:
            return i + 1
    return len(store)


def run(policy: Any, data: str, split: str, limit: int, batch_size: int) -> tuple[float, float, Any]:
    """``(steps/s over the loop, mean requests in flight, report)``."""
    timed = Timed(policy)
    with tempfile.TemporaryDirectory() as out:
        report = evaluate(timed, data, split=split, limit=limit, out=out, batch_size=batch_size)
        records = read_step_log(Path(out) / "steps.jsonl")
    loop = timed.last - timed.first
    in_flight = sum(r["call"]["latency_s"] for r in records.values()) / loop
    return timed.steps / loop, in_flight, report


def prompts(store: Any, n: int) -> list[tuple[str, dict]]:
    """The first ``n`` steps' observations and infos, as the evaluation sends them."""
    env, out = ShopSessionEnv(store), []
    for i in range(len(store)):
        for k in range(store.n_steps(i)):
            out.append(env.reset(options={"session_index": i, "step": k}))
            if len(out) == n:
                return out
    return out


def policy_alone(policy: Any, steps: list[tuple[str, dict]]) -> float:
    """Requests/s of the policy over ``steps``, all submitted at once, without the environment."""
    start = time.perf_counter()
    for future in [policy.submit(o, i) for o, i in steps]:
        future.result()
    return len(steps) / (time.perf_counter() - start)


def instant_loop(data: str, split: str, limit: int) -> float:
    """Steps/s of the same evaluation loop with an instant local policy (no HTTP)."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = evaluate(lambda obs: ANSWER, data, split=split, limit=limit, out=out, batch_size=16)
    return report.n_steps / (time.perf_counter() - start)


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
              f"{'p50 ms':>7} {'p95 ms':>7} {'in flight':>10} {'policy alone req/s':>19}")
        base = None
        for c in args.concurrency:
            n = max(args.steps * c // max(args.concurrency), 40)  # about the same wall time per row
            limit, batch = sessions_for(store, n), default_batch_size(c)
            with OpenAIChatPolicy("bench", base_url=url, api_key="local", concurrency=c, timeout_s=30) as policy:
                rate, in_flight, report = max((run(policy, data, split, limit, batch) for _ in range(args.repeat)),
                                              key=lambda r: r[0])
                alone = max(policy_alone(policy, prompts(store, report.n_steps)) for _ in range(args.repeat))
            api = report.extra["api"]
            base = base or rate
            print(f"{c:>11} {report.n_steps:>6} {rate:>8.1f} {rate / base:>9.2f}x {c:>5}x "
                  f"{1000 * api['latency_p50_s']:>7.1f} {1000 * api['latency_p95_s']:>7.1f} "
                  f"{in_flight:>10.1f} {alone:>19.1f}")
    finally:
        stop.set()
        server.join(timeout=10)

    limit = sessions_for(store, 4 * args.steps)
    rate = max(instant_loop(data, split, limit) for _ in range(args.repeat))
    print(f"peer: instant local policy (environment + scoring + step log only), batch 16: {rate:.0f} steps/s "
          f"= {rate * args.latency_ms / 1000.0:.0f}x one request at a time at {args.latency_ms:g} ms")


if __name__ == "__main__":
    main()
