"""Benchmark: ShopR1Live-v0 throughput with the reference-human (shopper) policy, next to its peers.

    .venv/bin/python benchmarks/bench_live.py [--steps 1500]
    taskset -c 0 .venv/bin/python benchmarks/bench_live.py      # pin to one core

One process, one thread, whole-session context, the same episodes for every store.
Measured in the same run:
(1) ShopR1Live-v0 stepped by :class:`shop_env.synth.policy.ShopperPolicy` with the default
store, which writes simplified pages directly (:mod:`shop_env.synth.direct`): steps/s of
``step()`` alone (parse + score against the reference human + execute on the store +
write the next page + the shopper's gold decision + prompt), and counting ``reset()`` and
the policy's own time; with the share of ``step()`` spent writing pages.
(2) Peer: the same episodes on ``Store(direct=False)``, which renders raw HTML and passes it
through :func:`shop_env.html.simplify` (the reference the direct writer is tested equal to).
(3) Peer: ShopR1-v0 replaying the embedded sample with the oracle's outputs (its pages are
already simplified on disk).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from shop_env.actions import format_model_output
from shop_env.env import ShopSessionEnv
from shop_env.live import ShopLiveEnv, live_store
from shop_env.paths import sample_data_dir
from shop_env.synth.policy import ShopperPolicy
from shop_env.synth.store import Store

TARGET = 1_000.0


def bench_live(n_steps: int, store: Store) -> tuple[float, float, float]:
    """(steps/s in step(), steps/s counting reset and policy, share of step() writing pages)."""
    page_seconds = 0.0
    render = store.render

    def timed_render(*a, **kw):
        nonlocal page_seconds
        t = time.perf_counter()
        try:
            return render(*a, **kw)
        finally:
            page_seconds += time.perf_counter() - t

    store.render = timed_render  # type: ignore[method-assign]
    env, policy = ShopLiveEnv(), ShopperPolicy(seed=0)
    env.store = store
    steps, t_step, episode, pages_in_step = 0, 0.0, 0, 0.0
    t0 = time.perf_counter()
    try:
        while steps < n_steps:
            obs, info = env.reset(options={"split": "bench", "index": episode})
            episode += 1
            done = False
            while not done:
                text = policy.act([obs], [info])[0]
                p0 = page_seconds
                t1 = time.perf_counter()
                obs, _, term, trunc, info = env.step(text)
                t_step += time.perf_counter() - t1
                pages_in_step += page_seconds - p0
                done = term or trunc
                steps += 1
    finally:
        del store.render
    return steps / t_step, steps / (time.perf_counter() - t0), pages_in_step / t_step


def bench_replay(n_steps: int) -> float:
    env = ShopSessionEnv(sample_data_dir(), split="train")
    steps, t_step, i = 0, 0.0, 0
    while steps < n_steps:
        env.reset(options={"session_index": i % len(env.store)})
        session = env.store[i % len(env.store)]
        i += 1
        for st in session.steps:
            text = format_model_output(st.rationale or "", st.action)
            t1 = time.perf_counter()
            env.step(text)
            t_step += time.perf_counter() - t1
            steps += 1
    return steps / t_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1_500)
    args = ap.parse_args()
    print(f"ShopR1Live-v0 benchmark (python {sys.version.split()[0]}, pid {os.getpid()}, "
          f"cpus allowed {len(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.1f})")
    default = live_store(0)
    reference = Store(default.catalog, default.engine, direct=False)
    bench_live(100, default)  # warm caches (search engine, chrome)
    live, live_all, share = bench_live(args.steps, default)
    print(f"  ShopR1Live-v0 + shopper policy: {live:7,.0f} steps/s in step(), {live_all:7,.0f} steps/s counting "
          f"reset() and the policy ({args.steps} steps); writing pages is {100 * share:.0f}% of step()")
    ref, ref_all, ref_share = bench_live(args.steps, reference)
    print(f"  peer: same episodes, raw pages through simplify(): {ref:7,.0f} steps/s in step(), "
          f"{ref_all:7,.0f} counting reset() and the policy; pages {100 * ref_share:.0f}% of step()")
    replay = bench_replay(args.steps)
    print(f"  peer: ShopR1-v0 replaying the sample with the oracle: {replay:7,.0f} steps/s in step()")
    print(f"  ratio direct / simplify(raw): {live / ref:.2f}x; live / replay: {live / replay:.3f}; "
          f"target >= {TARGET:,.0f} steps/s: {'met' if live >= TARGET else 'NOT met'} ({live:,.0f})")


if __name__ == "__main__":
    main()
