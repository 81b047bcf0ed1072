"""Peak memory of the OPeRA import against the Parquet row-group and data-page size.

Writes an OPeRA-shaped action file of ``--rows`` rows (default 1,000) with pages of
``--page-chars`` characters (default 168,000: the size the issue measured) three ways: row
groups of 16 rows; one row group written in slices of 50 rows (data pages of ~50 rows);
one row group written in one call (pyarrow then puts up to 1,024 values in one data page,
so the whole column is one page -- the worst case). Each is imported in a fresh child
process and its peak RSS printed. A Parquet data page is decompressed whole, so the
importer's peak follows the largest page, not the row group. Peers measured in the same run and the same way: the bare interpreter
with pyarrow and the importer imported (the floor), and the reader the importer used before
(``ParquetFile(path).iter_batches(batch_size=256)``, whole row group buffered) on the
one-group file. Pages are random text so Parquet cannot compress them away.

    python benchmarks/bench_opera_memory.py                  # ~170 MB per file, ~1 min
    python benchmarks/bench_opera_memory.py --rows 200       # quick
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import string
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r'''
import json, sys
mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
from shop_env.data.importers.opera import import_opera
import pyarrow.parquet as pq
if mode == "import":
    report = import_opera(path, out, n_buckets=8)
    assert report.balanced, report.summary()
elif mode == "old_reader":
    for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
        rows = batch.to_pylist()
# VmHWM is this process's own peak (ru_maxrss would carry the parent's peak over fork + exec)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_mb": int(hwm.split()[1]) / 1024}))
'''


def write_file(path: Path, rows: int, page_chars: int, row_group: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    rnd = random.Random(seed)
    base = "".join(rnd.choice(string.ascii_letters + " ") for _ in range(page_chars))
    writer = None
    for start in range(0, rows, 50):  # build in slices: the writer itself stays small
        batch = []
        for i in range(start, min(rows, start + 50)):
            page = f'<div name="nav_bar" role="navigation"></div><div name="x.item_{i}">' + base[i:] + base[:i] + "</div>"
            batch.append({"session_id": f"u{i // 10}_2025-04-01T10:00:00Z_x", "action_id": str(i),
                          "timestamp": f"2025-04-01T10:{(i % 10):02d}:00Z", "action_type": "click",
                          "semantic_id": f"x.item_{i}", "simplified_html": page, "rationale": ""})
        table = pa.Table.from_pylist(batch)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=row_group)
    writer.close()


def combine_row_groups(src: Path, dst: Path, one_page: bool) -> None:
    """Rewrite ``src`` as one row group, in 50-row slices or (``one_page``) in one call."""
    import pyarrow.parquet as pq
    table = pq.read_table(src)
    if one_page:
        pq.write_table(table.combine_chunks(), dst, row_group_size=1 << 30, use_dictionary=False)
        return
    with pq.ParquetWriter(dst, table.schema, use_dictionary=False) as w:
        w.write_table(table, row_group_size=1 << 30)


def child(mode: str, path: Path, out: Path) -> float:
    res = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path), str(out)], check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])["peak_mb"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--page-chars", type=int, default=168_000)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-opera-mem-", dir=args.dir))
    try:
        small = tmp / "groups16.parquet"
        one = tmp / "one_group.parquet"
        page = tmp / "one_page.parquet"
        write_file(small, args.rows, args.page_chars, row_group=16)
        combine_row_groups(small, one, one_page=False)
        combine_row_groups(small, page, one_page=True)
        import pyarrow.parquet as pq
        data_mb = pq.ParquetFile(one).metadata.row_group(0).total_byte_size / 2 ** 20
        floor = child("floor", one, tmp / "x")
        print(f"{args.rows} rows x {args.page_chars:,} characters; one row group holds {data_mb:.0f} MB of data")
        print(f"  {'floor (interpreter + importer imported)':<58} peak RSS {floor:5.0f} MB")
        for label, path in (("row groups of 16 rows", small), ("one row group, ~50-row pages", one),
                            ("one row group, one data page", page)):
            ours = child("import", path, tmp / "o") - floor
            peer = child("old_reader", path, tmp / "x") - floor
            print(f"  {label:<30} import {ours:5.0f} MB above the floor; previous reader "
                  f"(ParquetFile().iter_batches(256)) {peer:5.0f} MB; ratio {ours / peer:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
