"""Session store at the paper's scale: memory and random-access latency.

Generates stores of 1k, 10k and N sessions (default N = 52,137, the paper's count) with 8
steps of ~20 kB simplified pages each -- about 8 GB for N, so the free disk is checked
first -- then, each in a fresh child process:

- open + iterate every session + 2,000 seeded random reads, reporting peak RSS (goal:
  under 300 MB) against the RSS of the bare interpreter with the package imported;
- random-access latency (median / p99 of ``store[i]``) at each size: flat means O(1);
- peers measured in the same run: a linear scan to line i (what a store without an index
  must do) and loading a whole store into memory (measured on the 1k store, extrapolated).

The stores are written under ``--dir`` (default: the system temp folder) and deleted at the
end unless ``--keep``. Scale down with ``--sessions`` (e.g. 5000 for a quick run).

    python benchmarks/bench_store.py                    # full scale, ~10 GB of disk
    python benchmarks/bench_store.py --sessions 5000    # quick
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shop_env.actions import Action
from shop_env.data import Session, Step, StoreWriter

PAPER_SESSIONS = 52_137
RSS_GOAL_MB = 300

_TILE = ('<div name="search_results.{slug}" role="listitem"><a name="search_results.{slug}.product_title" '
         'role="link">{title}</a><span aria-label="4.5 out of 5 stars">4.5</span><span>$19.99</span>'
         '<button name="search_results.{slug}.add_to_cart">Add to cart</button></div>')


def make_page(session: int, step: int, page_bytes: int) -> str:
    """A ~page_bytes simplified results page whose product names depend on (session, step)."""
    head = (f'<html><body><div name="nav_bar" role="navigation"><input name="nav_bar.search_input" '
            f'type="text" value="query {session}"/></div><main>')
    tiles, k = [], 0
    size = len(head)
    while size < page_bytes - 20:
        tile = _TILE.format(slug=f"p{session}_{step}_{k}", title=f"Product {session}-{step}-{k} stainless kettle")
        tiles.append(tile)
        size += len(tile)
        k += 1
    return head + "".join(tiles) + "</main></body></html>"


def generate(path: Path, n_sessions: int, steps: int, page_bytes: int) -> float:
    """Write a store of n_sessions x steps; returns seconds taken."""
    t0 = time.perf_counter()
    with StoreWriter(path, source="bench", synthetic=True, description="bench_store.py") as w:
        for i in range(n_sessions):
            st = [Step(page_html=make_page(i, j, page_bytes),
                       action=Action("click", f"search_results.p{i}_{j}_0.product_title") if j < steps - 1
                       else Action("terminate"), url=f"https://shop.example/s/{i}/{j}", rationale="I compare.",
                       timestamp=float(j)) for j in range(steps)]
            w.write(Session(f"bench-{i:06d}", st, user_id=f"user-{i % 9973}"))
    return time.perf_counter() - t0


# Runs in a fresh interpreter: prints one JSON line.
_CHILD = r"""
import json, resource, sys, time
import numpy as np
mode, path, reads = sys.argv[1], sys.argv[2], int(sys.argv[3])
from shop_env.data import open_store
def rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {"rss_import_mb": rss_mb()}
if mode == "iterate":
    t = time.perf_counter(); store = open_store(path); out["open_s"] = time.perf_counter() - t
    t = time.perf_counter(); chars = steps = 0
    for s in store:
        steps += len(s.steps); chars += sum(len(st.page_html) for st in s.steps)
    out.update(iterate_s=time.perf_counter() - t, steps=steps, page_chars=chars)
    idx = np.random.default_rng(0).integers(0, len(store), size=reads)
    for i in idx: store[int(i)]
    out["rss_peak_mb"] = rss_mb()
elif mode == "random":
    store = open_store(path)
    idx = np.random.default_rng(1).integers(0, len(store), size=reads)
    for i in idx[:50]: store[int(i)]  # warm the file handle
    lat = []
    for i in idx:
        t = time.perf_counter(); store[int(i)]; lat.append(time.perf_counter() - t)
    lat = np.array(lat) * 1e6
    out.update(n=len(store), median_us=float(np.median(lat)), p99_us=float(np.percentile(lat, 99)))
elif mode == "scan":  # peer: no index, read lines until the wanted one
    data = path + "/sessions.jsonl"
    n = sum(1 for _ in open(data, "rb"))
    idx = np.random.default_rng(2).integers(0, n, size=reads)
    lat = []
    for i in idx:
        t = time.perf_counter()
        with open(data, "rb") as f:
            for k, line in enumerate(f):
                if k == i: json.loads(line); break
        lat.append(time.perf_counter() - t)
    out.update(n=n, median_us=float(np.median(lat)) * 1e6)
elif mode == "load_all":  # peer: keep every session in memory
    store = open_store(path); sessions = list(store)
    out.update(n=len(sessions), rss_peak_mb=rss_mb())
print(json.dumps(out))
"""


def child(mode: str, path: Path, reads: int = 0) -> dict:
    res = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path), str(reads)],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=PAPER_SESSIONS)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--page-kb", type=float, default=20.0)
    ap.add_argument("--reads", type=int, default=2000)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    page_bytes = int(args.page_kb * 1000)
    sizes = sorted({min(1000, args.sessions), min(10_000, args.sessions), args.sessions})
    root = Path(tempfile.mkdtemp(prefix="shop-r1-bench-store-", dir=args.dir))
    need = int(sum(sizes) * args.steps * page_bytes * 1.05)
    free = shutil.disk_usage(root).free
    print(f"disk: need ~{need / 1e9:.1f} GB for {sizes} sessions x {args.steps} steps x {page_bytes} B, "
          f"free {free / 1e9:.1f} GB in {root}")
    if free < need * 1.2:
        shutil.rmtree(root)
        print("not enough free disk; use --sessions to scale down or --dir elsewhere", file=sys.stderr)
        return 2
    try:
        paths = {}
        for n in sizes:
            paths[n] = root / f"store-{n}"
            secs = generate(paths[n], n, args.steps, page_bytes)
            size = (paths[n] / "sessions.jsonl").stat().st_size
            print(f"generated {n:>6} sessions: {size / 1e9:.2f} GB in {secs:.0f} s ({size / 1e6 / secs:.0f} MB/s)")
        big = sizes[-1]
        it = child("iterate", paths[big], args.reads)
        print(f"\nopen+iterate+{args.reads} random reads of {big} sessions ({it['steps']} steps, "
              f"{it['page_chars'] / 1e9:.2f} G page chars): open {it['open_s'] * 1e3:.1f} ms, "
              f"iterate {it['iterate_s']:.0f} s")
        verdict = "PASS" if it["rss_peak_mb"] < RSS_GOAL_MB else "FAIL"
        print(f"  peak RSS {it['rss_peak_mb']:.0f} MB (interpreter + package alone: {it['rss_import_mb']:.0f} MB)"
              f" -> {verdict} (goal < {RSS_GOAL_MB} MB)")
        small = sizes[0]
        naive = child("load_all", paths[small])
        naive_big = naive["rss_import_mb"] + (naive["rss_peak_mb"] - naive["rss_import_mb"]) * big / small
        print(f"  peer, all sessions in memory: {naive['rss_peak_mb']:.0f} MB for {small} sessions -> "
              f"~{naive_big / 1024:.1f} GB extrapolated to {big}; ratio {naive_big / it['rss_peak_mb']:.0f}x "
              "the store's peak RSS")
        print("\nrandom access latency, store[i] (index + one line):")
        lat = {n: child("random", paths[n], args.reads) for n in sizes}
        for n in sizes:
            print(f"  {n:>6} sessions: median {lat[n]['median_us']:8.0f} us   p99 {lat[n]['p99_us']:8.0f} us")
        print(f"  ratio {big} / {small} sessions (median): {lat[big]['median_us'] / lat[small]['median_us']:.2f}x "
              "(flat = O(1))")
        scan = {n: child("scan", paths[n], 5) for n in sizes}
        print("peer, linear scan to line i (no index), 5 reads:")
        for n in sizes:
            print(f"  {n:>6} sessions: median {scan[n]['median_us']:10.0f} us  -> index is "
                  f"{scan[n]['median_us'] / lat[n]['median_us']:.0f}x faster")
        return 0 if verdict == "PASS" else 1
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
