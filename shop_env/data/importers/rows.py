"""Stream input rows from Parquet, JSON or JSON Lines files (or any iterable of mappings).

Every row comes with where it came from, ``(file, row)``, so importers can name the exact
place of bad data. Parquet is read by record batch (``ParquetFile.iter_batches``), JSON
Lines line by line, so memory stays bounded by one batch, not by the file or its row-group
size: the file is opened with a small read buffer and no pre-buffering, so pyarrow reads a
column chunk page by page instead of loading a whole row group (OPeRA pages reach 600k
characters; one row group of 1,000 such rows is 0.6 GB). A ``.json`` file must hold one
JSON array of row objects and is loaded whole: use JSON Lines for big logs.

Missing values: :func:`is_missing` treats ``None``, float NaN (what pandas puts in empty
cells), pandas' ``NA``/``NaT`` and blank strings alike.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from shop_env.errors import DataError

ROW_FILE_SUFFIXES = (".parquet", ".jsonl", ".json")
ITERABLE_LABEL = "<rows>"
PARQUET_BUFFER_BYTES = 1 << 20


def is_missing(value: Any) -> bool:
    """True for None, NaN, pandas NA/NaT and strings that are empty after stripping."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return value != value
    return type(value).__name__ in ("NAType", "NaTType")


def find_row_files(path: Path) -> list[Path]:
    """All Parquet/JSON/JSONL files under ``path`` (or ``[path]`` for a file), sorted."""
    if path.is_file():
        return [path]
    if not path.exists():
        raise DataError("input not found", path=path)
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in ROW_FILE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(path).parts))


def parquet_columns(path: Path) -> list[str]:
    """Column names of a Parquet file; ``DataError`` if it cannot be opened."""
    import pyarrow.parquet as pq
    try:
        return list(pq.ParquetFile(path).schema_arrow.names)
    except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid/OSError/... for broken files
        raise DataError(f"cannot read Parquet file (corrupt or truncated?): {e}", path=path) from None


def iter_file_rows(path: Path, *, required: Sequence[str] = (), batch_size: int = 64,
                   columns: Sequence[str] | None = None) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield ``(file, row_number, row)`` for every row of one file; row numbers start at 1.

    ``required`` columns must exist (checked on the Parquet schema up front, and on each
    JSON row); a missing one is a ``DataError`` naming the file, row and field.
    ``columns``: read only these columns (absent ones are left out; JSON rows are trimmed).
    """
    suffix = path.suffix.lower()
    label = os.fspath(path)
    if suffix == ".parquet":
        yield from _iter_parquet(path, label, required, batch_size, columns)
        return
    if suffix == ".jsonl":
        rows = _iter_jsonl(path, label, required)
    elif suffix == ".json":
        rows = _iter_json(path, label, required)
    else:
        raise DataError(f"unsupported file type {suffix!r} (expected one of {ROW_FILE_SUFFIXES})", path=path)
    for _, n, row in rows:
        yield label, n, (row if columns is None else {k: row[k] for k in columns if k in row})


def iter_mapping_rows(rows: Iterable[Mapping[str, Any]], *, required: Sequence[str] = ()
                      ) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Rows from memory (a list of dicts, a ``datasets.Dataset``, ...), labelled ``<rows>``."""
    for n, row in enumerate(rows, start=1):
        yield ITERABLE_LABEL, n, _check_row(row, ITERABLE_LABEL, n, required)


def _check_row(row: Any, label: str, n: int, required: Sequence[str]) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise DataError(f"row must be a JSON object, got {type(row).__name__}", path=label, row=n)
    for col in required:
        if col not in row:
            raise DataError("required column is missing", path=label, row=n, field=col)
    return dict(row)


def _iter_parquet(path: Path, label: str, required: Sequence[str], batch_size: int,
                  columns: Sequence[str] | None) -> Iterator[tuple[str, int, dict[str, Any]]]:
    import pyarrow.parquet as pq
    names = parquet_columns(path)
    for col in required:
        if col not in names:
            raise DataError(f"required column is missing (columns: {names})", path=path, field=col)
    wanted = None if columns is None else [c for c in columns if c in names]
    reader = pq.ParquetFile(path, buffer_size=PARQUET_BUFFER_BYTES, pre_buffer=False)
    batches = reader.iter_batches(batch_size=batch_size, columns=wanted, use_threads=False)
    try:
        yield from _parquet_rows(path, label, batches)
    finally:
        reader.close()


def _parquet_rows(path: Path, label: str, batches: Iterator[Any]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    n = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as e:  # noqa: BLE001 - a damaged page/row group inside the file
            raise DataError(f"cannot read Parquet data after row {n} (corrupt or truncated?): {e}",
                            path=path, row=n + 1) from None
        for row in batch.to_pylist():
            n += 1
            yield label, n, row


def _iter_jsonl(path: Path, label: str, required: Sequence[str]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise DataError(f"invalid JSON line: {e}", path=path, row=n) from None
            yield label, n, _check_row(row, label, n, required)


def _iter_json(path: Path, label: str, required: Sequence[str]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"invalid JSON: {e}", path=path) from None
    if not isinstance(data, list):
        raise DataError("a .json input must be one array of row objects (use .jsonl for streams)", path=path)
    for n, row in enumerate(data, start=1):
        yield label, n, _check_row(row, label, n, required)
