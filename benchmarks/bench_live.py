"""Benchmark: ShopR1Live-v0 throughput with the reference-human (shopper) policy, next to ShopR1-v0.

    .venv/bin/python benchmarks/bench_live.py [--steps 1500]
    taskset -c 0 .venv/bin/python benchmarks/bench_live.py      # pin to one core

One process, one thread, whole-session context. Measured in the same run:
(1) ShopR1Live-v0 stepped by :class:`shop_env.synth.policy.ShopperPolicy`: steps/s of
``step()`` alone (parse + score against the reference human + execute on the store +
render and simplify the next page + the shopper's gold decision + prompt), and counting
``reset()`` and the policy's own time; with the share of the step spent rendering raw HTML
and in :func:`shop_env.html.simplify`.
(2) Peer: ShopR1-v0 replaying the embedded sample with the oracle's outputs (steps/s of
``step()``; its pages are already simplified on disk).
(3) Peer: ``simplify`` alone on the live pages (pages/s): the floor of any environment
that shows freshly rendered pages through the simplifier.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import shop_env.synth.store as store_module
from shop_env.actions import format_model_output
from shop_env.env import ShopSessionEnv
from shop_env.html import simplify
from shop_env.live import ShopLiveEnv, live_store
from shop_env.paths import sample_data_dir
from shop_env.synth.policy import ShopperPolicy

TARGET = 1_000.0


class _Timed:
    """Wraps the store's ``simplify`` to add up its time and keep the raw pages."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.pages: list[tuple[str, str]] = []

    def __call__(self, raw: str, url: str | None = None, **kw):
        t = time.perf_counter()
        page = simplify(raw, url=url, **kw)
        self.seconds += time.perf_counter() - t
        if len(self.pages) < 400:
            self.pages.append((raw, url or ""))
        return page


def bench_live(n_steps: int) -> float:
    live_store(0)  # build the catalogue outside the timed part
    timed = _Timed()
    store_module.simplify = timed  # type: ignore[assignment]
    render_total = 0.0
    orig_render = store_module.Store.render

    def render(self, *a, **kw):
        nonlocal render_total
        t = time.perf_counter()
        try:
            return orig_render(self, *a, **kw)
        finally:
            render_total += time.perf_counter() - t

    store_module.Store.render = render  # type: ignore[method-assign]
    env, policy = ShopLiveEnv(), ShopperPolicy(seed=0)
    steps, t_step, episode = 0, 0.0, 0
    simplify_in_step = render_in_step = 0.0
    t0 = time.perf_counter()
    while steps < n_steps:
        obs, info = env.reset(options={"split": "bench", "index": episode})
        episode += 1
        done = False
        while not done:
            text = policy.act([obs], [info])[0]
            s0, r0 = timed.seconds, render_total
            t1 = time.perf_counter()
            obs, _, term, trunc, info = env.step(text)
            t_step += time.perf_counter() - t1
            simplify_in_step += timed.seconds - s0
            render_in_step += render_total - r0
            done = term or trunc
            steps += 1
    wall = time.perf_counter() - t0
    store_module.Store.render = orig_render  # type: ignore[method-assign]
    store_module.simplify = simplify  # type: ignore[assignment]
    rate = steps / t_step
    print(f"  ShopR1Live-v0 + shopper policy: {rate:7,.0f} steps/s in step(), {steps / wall:7,.0f} steps/s counting "
          f"reset() and the policy ({steps} steps, {episode} episodes)")
    print(f"    of step(): simplify {100 * simplify_in_step / t_step:4.1f}%, raw render "
          f"{100 * (render_in_step - simplify_in_step) / t_step:4.1f}%, the rest (score, transition, gold, prompt) "
          f"{100 * (t_step - render_in_step) / t_step:4.1f}% = {1e3 * (t_step - render_in_step) / steps:.2f} ms/step")
    # peer (3): simplify alone on the same raw pages
    t = time.perf_counter()
    for raw, url in timed.pages:
        simplify(raw, url=url, auto_recipe=False)
    floor = len(timed.pages) / (time.perf_counter() - t)
    print(f"  peer: simplify alone on {len(timed.pages)} live pages: {floor:7,.0f} pages/s "
          f"(a live step costs {floor / rate:.2f}x one simplify)")
    return rate


def bench_replay(n_steps: int) -> float:
    env = ShopSessionEnv(sample_data_dir(), split="train")
    steps, t_step, i = 0, 0.0, 0
    while steps < n_steps:
        obs, info = env.reset(options={"session_index": i % len(env.store)})
        session = env.store[i % len(env.store)]
        i += 1
        for st in session.steps:
            text = format_model_output(st.rationale or "", st.action)
            t1 = time.perf_counter()
            env.step(text)
            t_step += time.perf_counter() - t1
            steps += 1
    rate = steps / t_step
    print(f"  peer: ShopR1-v0 replaying the sample with the oracle: {rate:7,.0f} steps/s in step() ({steps} steps)")
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1_500)
    args = ap.parse_args()
    print(f"ShopR1Live-v0 benchmark (python {sys.version.split()[0]}, pid {os.getpid()}, "
          f"cpus allowed {len(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.1f})")
    live = bench_live(args.steps)
    replay = bench_replay(args.steps)
    print(f"  ratio live / replay: {live / replay:.3f}; target >= {TARGET:,.0f} steps/s: "
          f"{'met' if live >= TARGET else 'NOT met'} ({live:,.0f})")


if __name__ == "__main__":
    main()
