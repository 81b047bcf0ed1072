"""Crash-safe, append-only per-step result log for evaluation runs.

Layout of an evaluation folder::

    run.json       the run's configuration (written atomically before any step)
    steps.jsonl    one JSON object per scored step, appended and fsync'ed per batch

A run killed at any instant (SIGKILL included) leaves at worst a partial last line; on
resume that tail is cut off and every complete line counts once, keyed by
``(session_id, step_index)``. A step already in the log is never sent to the policy again,
and a key seen twice (which the runner never writes) is counted once.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from shop_env.data.atomic import write_text_atomic
from shop_env.errors import DataError

STEPS_FILE = "steps.jsonl"
RUN_FILE = "run.json"

StepKey = tuple[str, int]


def step_key(record: Mapping[str, Any]) -> StepKey:
    """The identity of a step record: ``(session_id, step_index)``."""
    return str(record["session_id"]), int(record["step_index"])


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as pretty JSON to ``path`` via a fsync'ed temp file and an atomic rename."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_step_log(path: str | os.PathLike, *, repair: bool = False) -> dict[StepKey, dict[str, Any]]:
    """Read a step log into ``{(session_id, step_index): record}`` (first occurrence wins).

    A last line without its newline is what a killed writer leaves: it is ignored, and cut
    from the file when ``repair`` is true. A corrupt *complete* line cannot come from a kill,
    so it raises :class:`DataError` naming the file and line.
    """
    path = Path(path)
    records: dict[StepKey, dict[str, Any]] = {}
    if not path.exists():
        return records
    good_end = 0
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                break  # torn tail from a killed writer
            good_end += len(raw)
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                key = step_key(rec)
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
                raise DataError(f"corrupt step record: {e}", path=path, row=line_no) from None
            records.setdefault(key, rec)
    if repair and good_end != path.stat().st_size:
        with open(path, "r+b") as f:
            f.truncate(good_end)
            f.flush()
            os.fsync(f.fileno())
    return records


class StepLog:
    """Appends step records to ``steps.jsonl``; each :meth:`append` is flushed and fsync'ed.

    With ``path=None`` the log lives in memory only (an evaluation without ``out``).
    """

    def __init__(self, path: str | os.PathLike | None, *, resume: bool = True) -> None:
        self.path = None if path is None else Path(path)
        self.done: dict[StepKey, dict[str, Any]] = {}
        self._fh = None
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume:
            self.done = read_step_log(self.path, repair=True)
        else:
            self.path.unlink(missing_ok=True)
        self._fh = open(self.path, "ab")

    def __contains__(self, key: StepKey) -> bool:
        return key in self.done

    def append(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append new records (keys already logged are dropped); return how many were new."""
        lines, new = [], 0
        for rec in records:
            key = step_key(rec)
            if key in self.done:
                continue
            self.done[key] = dict(rec)
            new += 1
            if self._fh is not None:
                lines.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
        if lines and self._fh is not None:
            self._fh.write("".join(lines).encode("utf-8"))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return new

    def close(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "StepLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
