"""Scale benchmark at the paper's size: 52,137 sessions (issue "Reliability", item 2).

    .venv/bin/python benchmarks/scale.py [--resets 2000]

Writes stores of 1,000 / 10,000 / 52,137 sessions under /tmp, then in a fresh process
each: opens ``ShopSessionEnv`` on it, drives random resets each followed by a step, and
prints RSS and reset / step latency. Both must stay flat as the store grows; the peer
line loads the 52k store into a list to show what "loading the dataset" would cost.
For paper-size *pages* (52,137 x 8 steps x 20 kB, ~8 GB) see benchmarks/bench_store.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_env import bench_scale  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resets", type=int, default=2_000, help="random resets (+1 step each) per store size")
    args = ap.parse_args()
    print(f"reset + step cost and memory against store size ({args.resets} random resets each)")
    bench_scale(args.resets)


if __name__ == "__main__":
    main()
