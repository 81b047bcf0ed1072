"""Personas from OPeRA's user table: the parsed ``survey`` JSON, plus columns asked for.

OPeRA's user table (``OPeRA_*/user/{train,test}/*.parquet``) has ``user_id``, ``survey`` (a
JSON string with "Demographic Information", "Shopping Preference", "Personality", "Self
Description"), ``raw_survey``, ``interview_transcript`` and
``interview_transcript_processed``. A persona is the ``survey`` parsed into a dict with the
survey's own keys; other columns come in only when named in ``persona_fields`` (the
transcripts run to 10k+ characters, which would crowd the page out of the prompt). Only
the needed columns are read. Missing values (None, NaN, blank strings) are dropped at every
depth, so a persona never holds NaN.

``users`` may be a file or folder, a list of them, an iterable of row dicts, a
``datasets.Dataset`` or a ``DatasetDict`` (its splits are merged).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from shop_env.data.importers.rows import find_row_files, is_missing, iter_file_rows, iter_mapping_rows, \
    parquet_columns
from shop_env.errors import DataError

SURVEY = "survey"
USER_ID = "user_id"


def user_sources(users: Any) -> list[tuple[str, Any]]:
    """``[(label, Path | iterable of rows)]`` for a ``users`` argument (see the module doc)."""
    if users is None:
        return []
    if isinstance(users, (str, os.PathLike)):
        return [(os.fspath(f), f) for f in find_row_files(Path(users))]
    if isinstance(users, Mapping) and not _is_row(users):  # DatasetDict: {"train": ds, "test": ds}
        return [(f"<users:{k}>", v) for k, v in users.items()]
    if isinstance(users, (list, tuple)) and users and isinstance(users[0], (str, os.PathLike)):
        return [src for u in users for src in user_sources(u)]
    return [("<users>", users)]


def _is_row(m: Mapping[str, Any]) -> bool:
    return USER_ID in m


def load_personas(sources: Sequence[tuple[str, Any]], persona_fields: Sequence[str] = ()
                  ) -> tuple[dict[str, dict[str, Any]], int]:
    """``(user_id -> persona, users without a survey)``. Users are few; all are kept in memory.

    A table without ``user_id`` or ``survey`` (for example the session table) is a
    ``DataError``; so is a survey that is not a JSON object, and a ``persona_fields`` column
    the table lacks.
    """
    personas: dict[str, dict[str, Any]] = {}
    no_survey = 0
    wanted = (USER_ID, SURVEY, *persona_fields)
    for label, src in sources:
        for where, row in _rows(label, src, wanted):
            uid = row.get(USER_ID)
            if is_missing(uid):
                raise DataError("user row has an empty user_id", path=where[0], row=where[1], field=USER_ID)
            persona = _survey(row.get(SURVEY), where)
            if not persona:
                no_survey += 1
            for col in persona_fields:
                value = clean(row.get(col))
                if value is not None:
                    persona[col] = value
            personas[str(uid).strip()] = persona
    return personas, no_survey


def _rows(label: str, src: Any, wanted: Sequence[str]) -> Iterator[tuple[tuple[str, int], dict[str, Any]]]:
    if isinstance(src, Path):
        if src.suffix.lower() == ".parquet":
            _require(parquet_columns(src), wanted, label)
        first = True
        for lab, n, row in iter_file_rows(src, columns=wanted):
            if first:
                _require(list(row), wanted, lab, n)
                first = False
            yield (lab, n), row
        return
    first = True
    for _, n, row in iter_mapping_rows(_iterable(src, label)):
        if first:
            _require(list(row), wanted, label, n)
            first = False
        yield (label, n), row


def _iterable(src: Any, label: str) -> Iterable[Mapping[str, Any]]:
    if isinstance(src, (str, bytes)) or not hasattr(src, "__iter__"):
        raise DataError(f"users must be a path, rows or a datasets.Dataset, got {type(src).__name__}", path=label)
    return src


def _require(columns: Sequence[str], wanted: Sequence[str], label: str, row: int | None = None) -> None:
    for col in wanted:
        if col not in columns:
            hint = (" -- is this OPeRA's user table? (the session table has no survey)"
                    if col in (USER_ID, SURVEY) else " (asked for in persona_fields)")
            raise DataError(f"user table has no {col!r} column (columns: {sorted(columns)}){hint}",
                            path=label, row=row, field=col)


def _survey(value: Any, where: tuple[str, int]) -> dict[str, Any]:
    if is_missing(value):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise DataError(f"survey is not valid JSON: {e}", path=where[0], row=where[1], field=SURVEY) from None
    if not isinstance(value, Mapping):
        raise DataError(f"survey must be a JSON object, got {type(value).__name__}", path=where[0],
                        row=where[1], field=SURVEY)
    return clean(value) or {}


def clean(value: Any) -> Any:
    """``value`` with missing entries (None, NaN, blank) removed at every depth; None if nothing is left."""
    if isinstance(value, Mapping):
        out = {str(k): v for k, v in ((k, clean(v)) for k, v in value.items()) if v is not None}
        return out or None
    if isinstance(value, (list, tuple)):
        items = [v for v in (clean(v) for v in value) if v is not None]
        return items or None
    if is_missing(value):
        return None
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return None
    if isinstance(value, str):
        return value.strip()
    if hasattr(value, "item") and not isinstance(value, (int, float, bool)):  # numpy scalars
        return clean(value.item())
    return value
