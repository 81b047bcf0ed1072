"""Export a session store to verl's parquet layout (train and test files).

    python examples/verl/prepare_data.py --store data/sample --out ~/data/shop_r1 --max-chars 24000

With a store that holds ``train/`` and ``test/`` sub-stores (like the embedded sample) the
splits are those; otherwise a seeded hash split of the single store is used.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from shop_env.integrations.verl import export_verl_parquet
from shop_env.paths import sample_data_dir


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default=str(sample_data_dir()), help="session store folder")
    p.add_argument("--out", required=True, help="output folder (train.parquet, test.parquet)")
    p.add_argument("--context", default="whole_session", choices=["whole_session", "latest_step"])
    p.add_argument("--max-chars", type=int, default=None, help="prompt budget in characters")
    p.add_argument("--limit", type=int, default=None, help="at most this many rows per split")
    a = p.parse_args(argv)
    out = Path(a.out).expanduser()
    for split in ("train", "test"):
        path = export_verl_parquet(a.store, out / f"{split}.parquet", split=split, context=a.context,
                                   max_chars=a.max_chars, limit=a.limit)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
