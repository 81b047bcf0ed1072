"""Group rows into sessions without holding the whole input in memory.

Logs are rarely sorted by session, and pages make rows large (OPeRA pages reach 600k
characters), so "load everything, then group" does not scale. Two strategies, one API:

- :class:`SpillGrouper` (default, any row order): each row's record is appended to one
  spill file on disk, and a small key line (session id, input position, offset, ...) goes
  to one of ``n_buckets`` bucket files chosen by a stable hash of the session id. Then each
  bucket's keys are read (about ``rows / n_buckets`` small tuples), grouped, and every
  session's records are read back by offset. Peak memory: one bucket of keys plus one
  session's records. Disk: about the size of the input, in a temporary folder that is
  always removed.
- :class:`StreamGrouper` (``assume_grouped=True``): rows of a session must be contiguous
  (sorted input); a session is emitted as soon as the next one starts. One pass, no disk;
  a session id that reappears later is a ``DataError``.

Output order: the stream strategy keeps the input order of sessions; the spill strategy
emits them bucket by bucket, by first appearance within a bucket -- deterministic for a
given input, but not the input order. Call ``finish()`` once, after the last ``add()``.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from shop_env.data.store import stable_hash
from shop_env.errors import DataError


@dataclass(slots=True)
class Item:
    """One row of a session: its input position, a small key tuple, and its record."""

    seq: int
    key: list[Any]
    payload: Any  # the record itself (stream) or (offset, length) in the spill file


Group = tuple[str, list[Item]]


class StreamGrouper:
    """Groups rows of input that is already grouped by session (one pass, no disk)."""

    def __init__(self) -> None:
        self._current: str | None = None
        self._items: list[Item] = []
        self._done: set[str] = set()

    def add(self, session_id: str, seq: int, key: list[Any], record: dict[str, Any],
            where: tuple[str, int]) -> list[Group]:
        """Add one row; returns the session that this row closed, if any."""
        out: list[Group] = []
        if session_id != self._current:
            if session_id in self._done:
                raise DataError(f"session {session_id!r} appears again after other sessions; the input is "
                                "not grouped by session (drop assume_grouped to sort it on disk)",
                                path=where[0], row=where[1], field="session_id")
            if self._current is not None:
                self._done.add(self._current)
                out.append((self._current, self._items))
            self._current, self._items = session_id, []
        self._items.append(Item(seq, key, record))
        return out

    def finish(self) -> Iterator[Group]:
        """The last session."""
        if self._current is not None:
            yield self._current, self._items
            self._current, self._items = None, []

    def load(self, item: Item) -> dict[str, Any]:
        return item.payload

    def close(self) -> None:
        self._items = []


class SpillGrouper:
    """Groups rows in any order through a temporary spill folder (see the module doc)."""

    def __init__(self, n_buckets: int = 64, tmp_dir: str | Path | None = None) -> None:
        if n_buckets < 1:
            raise ValueError("n_buckets must be >= 1")
        self.n_buckets = n_buckets
        self._dir = Path(tempfile.mkdtemp(prefix=".shop-r1-spill-", dir=tmp_dir))
        self._data = open(self._dir / "records.jsonl", "w+b")
        self._keys = [open(self._dir / f"keys-{b:04d}.jsonl", "w+b") for b in range(n_buckets)]
        self._offset = 0

    def add(self, session_id: str, seq: int, key: list[Any], record: dict[str, Any],
            where: tuple[str, int]) -> list[Group]:
        """Spill one row; sessions only come out of :meth:`finish`."""
        line = (json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":")) + "\n").encode()
        self._data.write(line)
        entry = [session_id, seq, key, self._offset, len(line)]
        self._keys[stable_hash(session_id) % self.n_buckets].write(
            (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode())
        self._offset += len(line)
        return []

    def finish(self) -> Iterator[Group]:
        """Every session, bucket by bucket, rows in input order."""
        self._data.flush()
        for f in self._keys:
            f.flush()
            f.seek(0)
            groups: dict[str, list[Item]] = {}
            for raw in f:
                sid, seq, key, offset, length = json.loads(raw)
                groups.setdefault(sid, []).append(Item(seq, key, (offset, length)))
            for sid, items in groups.items():
                yield sid, items
            f.truncate(0)

    def load(self, item: Item) -> dict[str, Any]:
        offset, length = item.payload
        self._data.seek(offset)
        return json.loads(self._data.read(length))

    def close(self) -> None:
        """Remove the spill folder (always call; use try/finally)."""
        for f in (self._data, *self._keys):
            f.close()
        shutil.rmtree(self._dir, ignore_errors=True)
