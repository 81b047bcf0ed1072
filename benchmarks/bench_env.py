"""Benchmark: ShopSessionEnv throughput, and reset cost / memory against the store's size.

    .venv/bin/python benchmarks/bench_env.py [--data data/sample --split train] [--steps 20000]
    taskset -c 0 .venv/bin/python benchmarks/bench_env.py      # pin to one core

(1) Throughput on the sample (``data/sample``, train split; when it is missing, a synthetic
store of similar pages is written to a temp folder and the output says so). Whole-session
context, one process, one thread: env steps/s (parse + score + next observation and info),
counting resets and excluding them, with the oracle's outputs and with unparseable text.
Peers measured in the same run: (a) parse + score alone (the floor: what any env must
do), (b) an uncached env step (``build_prompt`` and ``named_elements`` from scratch).

(2) Scale: stores of 1,000 / 10,000 / 52,137 tiny synthetic sessions written with
``StoreWriter`` under /tmp. In a fresh subprocess each: construction time, mean and p99
``reset()`` latency over random sessions, and RSS after opening and after the resets. Peer:
the same 52,137-session store loaded into a Python list (what "load the dataset" costs).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shop_env.actions import Action, format_model_output, parse_model_output
from shop_env.data.model import Session, Step
from shop_env.data.store import StoreWriter, open_store
from shop_env.env import ShopSessionEnv
from shop_env.html import named_elements
from shop_env.paths import sample_data_dir
from shop_env.prompts import build_prompt
from shop_env.reward import score_parsed

SIZES = (1_000, 10_000, 52_137)


def rss_mb() -> tuple[float, float]:
    """(resident set size, its anonymous part: resident minus file-backed) in MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        fields = f.read().split()
    page = os.sysconf("SC_PAGE_SIZE") / 2**20
    return int(fields[1]) * page, (int(fields[1]) - int(fields[2])) * page


def _fake_page(rng: random.Random, k: int, n_items: int) -> tuple[str, list[str]]:
    names = [f"search_results.item_{k}_{j}.product_title" for j in range(n_items)]
    items = "".join(f'<div><a name="{n}">Product {j} {"wireless charger " * rng.randint(1, 4)}</a>'
                    f'<span>${rng.randint(5, 300)}.99</span><p>{"great value item " * rng.randint(5, 15)}</p></div>'
                    for j, n in enumerate(names))
    html = ('<html><body><input name="nav_bar.search_input" type="text" placeholder="Search">'
            f'{items}<button name="buybox.purchase_form.add_to_cart">Add to cart</button></body></html>')
    return html, names + ["buybox.purchase_form.add_to_cart"]


def write_fake_store(path: Path, n_sessions: int, *, n_items: tuple[int, int] = (0, 1),
                     steps: tuple[int, int] = (2, 3), seed: int = 0) -> Path:
    """``n_sessions`` synthetic sessions (``n_items`` products per page) written with StoreWriter."""
    rng = random.Random(seed)
    with StoreWriter(path, source="bench", synthetic=True) as w:
        for i in range(n_sessions):
            n = rng.randint(*steps)
            st = []
            for k in range(n):
                html, names = _fake_page(rng, k, rng.randint(*n_items))
                action = (Action("terminate") if k == n - 1 else
                          Action("type_and_submit", "nav_bar.search_input", "usb cable") if k == 0 else
                          Action("click", rng.choice(names)))
                st.append(Step(html, action, url=f"https://shop.example/{i}/{k}", rationale="I go on."))
            w.write(Session(f"bench-{i}", st, user_id=f"u{i}"))
    return path


def _oracle_outputs(store) -> dict[tuple[str, int], str]:
    out = {}
    for s in store:
        for k, step in enumerate(s.steps):
            out[(s.session_id, k)] = format_model_output(step.rationale or "", step.action)
    return out


def _run_env(env: ShopSessionEnv, store, policy, n_steps: int, read_elements: bool = False) -> tuple[float, float]:
    """(steps/s counting resets, steps/s of step() alone), cycling over the store's sessions.

    ``read_elements``: also read ``info["elements"]`` inside the timed step (a consumer that
    uses them pays for parsing the page there, since the env reads them lazily)."""
    done_steps, t_step, i = 0, 0.0, 0
    env.reset(seed=0)
    t0 = time.perf_counter()
    while done_steps < n_steps:
        obs, info = env.reset(options={"session_index": i % len(store)})
        i += 1
        if read_elements:
            len(info["elements"])
        term = False
        while not term:
            text = policy(info)
            t1 = time.perf_counter()
            obs, r, term, trunc, info = env.step(text)
            if read_elements:
                len(info["elements"])
            t_step += time.perf_counter() - t1
            done_steps += 1
    return done_steps / (time.perf_counter() - t0), done_steps / t_step


def bench_throughput(store, n_steps: int) -> None:
    oracle = _oracle_outputs(store)
    sessions = [store[i] for i in range(len(store))]
    pages = sum(len(s.steps) for s in sessions)
    chars = sum(len(st.page_html) for s in sessions for st in s.steps)
    n_el = sum(len(named_elements(st.page_html)) for s in sessions for st in s.steps)
    print(f"  {len(store)} sessions, {pages} steps, mean page {chars / max(pages, 1):,.0f} chars, "
          f"{n_el / max(pages, 1):.1f} named elements")
    policies = {"oracle outputs": lambda info: oracle[(info["session_id"], info["step_index"])],
                "unparseable text": lambda info: "I think I will click the first result."}
    step_rate = {}
    runs = [("default", {}, "oracle outputs", False), ("default", {}, "unparseable text", False),
            ("default", {}, "oracle, elements read", True),
            ("elements=False", {"elements": False}, "oracle outputs", False),
            ("max_chars=16000", {"max_chars": 16_000}, "oracle outputs", False)]
    for label, kwargs, pname, read in runs:
        policy = policies["oracle outputs" if read else pname]
        with_resets, in_step = _run_env(ShopSessionEnv(store, **kwargs), store, policy, n_steps, read)
        step_rate[(label, pname)] = in_step
        print(f"  env {label:15s} {pname:21s}: {in_step:8,.0f} steps/s in step() "
              f"(parse, score, next obs + info), {with_resets:7,.0f} steps/s counting reset()")
    done_rate = step_rate[("default", "oracle outputs")]
    if store.manifest.get("page_codec", "none") != "none":  # the same sessions, pages stored plainly
        tmp = Path(tempfile.mkdtemp(prefix="shop-r1-bench-plain-"))
        with StoreWriter(tmp / "plain", source="bench", page_codec="none") as w:
            w.write_all(sessions)
        plain = open_store(tmp / "plain")
        with_resets, in_step = _run_env(ShopSessionEnv(plain), plain, policies["oracle outputs"], n_steps)
        print(f"  same sessions, page_codec=none (the sample uses {store.manifest['page_codec']}): "
              f"{in_step:8,.0f} steps/s in step(), {with_resets:7,.0f} steps/s counting reset()")
    # peer (a): parse + score only
    pairs = [(oracle[(s.session_id, k)], st.action) for s in sessions for k, st in enumerate(s.steps)]
    reps = max(1, n_steps // len(pairs))
    t0 = time.perf_counter()
    for _ in range(reps):
        for text, gold in pairs:
            score_parsed(parse_model_output(text), gold)
    floor = reps * len(pairs) / (time.perf_counter() - t0)
    # peer (b): uncached step work: prompt from scratch + elements + parse + score
    t0 = time.perf_counter()
    n = 0
    for s in sessions:
        for k, st in enumerate(s.steps):
            build_prompt(s, k)
            named_elements(st.page_html)
            score_parsed(parse_model_output(oracle[(s.session_id, k)]), st.action)
            n += 1
        if n >= min(n_steps, 5000):
            break
    uncached = n / (time.perf_counter() - t0)
    print(f"  peer (a) parse+score only   : {floor:9,.0f} /s   (env default step() costs {floor / done_rate:.2f}x this floor)")
    print(f"  peer (b) uncached step work : {uncached:9,.0f} /s")


def _scale_child(path: str, n_resets: int, load_all: bool) -> None:
    """Runs in a fresh process; prints one JSON line."""
    base, base_anon = rss_mb()
    t0 = time.perf_counter()
    if load_all:
        sessions = list(open_store(path))
        print(json.dumps({"open_s": time.perf_counter() - t0, "rss_open": rss_mb()[0] - base, "n": len(sessions)}))
        return
    env = ShopSessionEnv(path, split="all")
    open_s = time.perf_counter() - t0
    rss_open = rss_mb()[0] - base
    rng = random.Random(0)
    lat, step_lat = [], []
    for _ in range(n_resets):
        i = rng.randrange(len(env.store))
        t1 = time.perf_counter()
        env.reset(options={"session_index": i})
        t2 = time.perf_counter()
        env.step('{"rationale": "I have seen enough.", "action": {"type": "terminate"}}')
        step_lat.append(time.perf_counter() - t2)
        lat.append(t2 - t1)
    t1 = time.perf_counter()
    for s in range(200):
        env.reset(seed=s)
    seeded = (time.perf_counter() - t1) / 200
    lat.sort()
    step_lat.sort()
    rss, anon = rss_mb()
    print(json.dumps({"open_s": open_s, "rss_open": rss_open, "rss_after": rss - base, "anon_after": anon - base_anon,
                      "p50_us": 1e6 * lat[len(lat) // 2], "mean_us": 1e6 * sum(lat) / len(lat), "p99_us": 1e6 * lat[int(0.99 * len(lat))],
                      "seeded_us": 1e6 * seeded, "step_p50_us": 1e6 * step_lat[len(step_lat) // 2],
                      "n": len(env.store)}))


def bench_scale(n_resets: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shop-r1-bench-env-"))
    results = {}
    for n in SIZES:
        t0 = time.perf_counter()
        path = write_fake_store(tmp / f"s{n}", n)
        size = (path / "sessions.jsonl").stat().st_size / 2**20
        gen = time.perf_counter() - t0
        out = subprocess.run([sys.executable, __file__, "--child", str(path), "--resets", str(n_resets)],
                             capture_output=True, text=True, check=True).stdout
        r = results[n] = json.loads(out.strip().splitlines()[-1])
        print(f"  {n:6,d} sessions ({size:5.1f} MiB, written in {gen:4.1f}s): open {1e3 * r['open_s']:6.1f} ms, "
              f"reset p50 {r['p50_us']:5.0f} us mean {r['mean_us']:5.0f} us p99 {r['p99_us']:5.0f} us, seeded {r['seeded_us']:5.0f} us, step p50 {r['step_p50_us']:4.0f} us, "
              f"RSS +{r['rss_open']:4.1f} MiB open, +{r['rss_after']:4.1f} MiB after {n_resets} resets "
              f"(anonymous +{r['anon_after']:4.1f} MiB; index: {n * 36 / 2**20:4.1f} MiB mapped)")
    out = subprocess.run([sys.executable, __file__, "--child", str(tmp / f"s{SIZES[-1]}"), "--load-all"],
                         capture_output=True, text=True, check=True).stdout
    peer = json.loads(out.strip().splitlines()[-1])
    big, small = results[SIZES[-1]], results[SIZES[0]]
    print(f"  peer: list(store) of {SIZES[-1]:,} sessions: {peer['open_s']:.2f} s, RSS +{peer['rss_open']:.1f} MiB "
          f"({peer['rss_open'] / max(big['rss_after'], 0.1):.0f}x the env's)")
    print(f"  ratio {SIZES[-1]:,} vs {SIZES[0]:,} sessions: reset p50 {big['p50_us'] / small['p50_us']:.2f}x, "
          f"mean {big['mean_us'] / small['mean_us']:.2f}x, "
          f"p99 {big['p99_us'] / small['p99_us']:.2f}x; anonymous RSS after resets {small['anon_after']:.1f} vs "
          f"{big['anon_after']:.1f} MiB (the rest is the memory-mapped index, 36 bytes per session)")
    for n in SIZES:
        for f in (tmp / f"s{n}").iterdir():
            f.unlink()
        (tmp / f"s{n}").rmdir()
    tmp.rmdir()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--split", default="train")
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--resets", type=int, default=2_000)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--load-all", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _scale_child(args.child, args.resets, args.load_all)
        return
    data = Path(args.data) if args.data else sample_data_dir()
    print(f"ShopSessionEnv benchmark (python {sys.version.split()[0]}, pid {os.getpid()}, "
          f"cpus allowed {len(os.sched_getaffinity(0))})")
    if (data / args.split / "manifest.json").exists() or (data / "manifest.json").exists():
        store = open_store(data, split=args.split)
        print(f"(1) throughput, whole-session context, on {data} [{args.split}]")
    else:
        tmp = Path(tempfile.mkdtemp(prefix="shop-r1-bench-sample-"))
        store = open_store(write_fake_store(tmp / "store", 200, n_items=(5, 20), steps=(3, 10)))
        print(f"(1) throughput, whole-session context; {data} missing, on a SYNTHETIC stand-in store")
    bench_throughput(store, args.steps)
    print(f"(2) reset cost and memory against store size ({args.resets} random resets each)")
    bench_scale(args.resets)


if __name__ == "__main__":
    main()
