"""The session store: one canonical on-disk format for recorded sessions.

Layout of a store directory (format version 1)::

    manifest.json     format name/version, counts, source, ``synthetic`` flag, page codec
    sessions.jsonl    one session per line (``Session.to_record()``), UTF-8 JSON
    index.bin         one fixed-size record per session (little-endian, see INDEX_DTYPE):
                      byte offset and length of its line, step count, and 64-bit hashes of
                      its session id and user id

Why JSON Lines plus a binary index: a line is readable with any tool (``head``, ``jq``),
appends stream with O(1) memory, and the memory-mapped index gives O(1) random access to
any session (seek + read one line) without reading the rest of the file. Splits and
session-id look-ups use the hashes in the index, so they never parse the JSON.

Bad data (documented behaviour): a corrupt or truncated line raises ``DataError`` naming
``sessions.jsonl`` and its line number when that session is read (other sessions stay
readable); a truncated data or index file, or an index that disagrees with the manifest,
raises ``DataError`` at open. A session with no steps is stored as given: it holds no
global steps (``step_location`` skips it) and ``shop-r1 data validate`` reports it.

Lines are strict JSON: the writer refuses NaN and Infinity (``DataError`` naming the
session and the field), so any JSON reader accepts ``sessions.jsonl``.

Split layout: a folder with ``train/`` and ``test/`` stores (like ``data/sample``), opened
with ``open_store(path, split="train")``; ``shop_env.data.split_store.SplitStoreWriter``
writes one atomically.

Pages may be stored compressed (``page_codec="zlib"``): the step's ``page`` field then
holds base64 of the zlib-compressed UTF-8 HTML and is inflated on read. Lines stay JSON.

Writes are atomic: a store is written to a temporary sibling directory
(``.<name>.tmp-<pid>-*``) and renamed into place on success, so a killed writer never
leaves a half-written store at ``path``. Replacing an existing store takes two renames
(old store aside to ``.<name>.old-<pid>``, new store in); if the writer is killed between
them, opening ``path`` falls back to the intact previous store. Leftovers of killed writers
are removed by the next writer to the same path.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import threading
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from shop_env.data.atomic import (AtomicWriter, check_replaceable, fallback_dir, remove_stale_siblings,
                                  swap_into_place)
from shop_env.data.hashing import stable_hash, unit_interval
from shop_env.data.model import RecordError, Session
from shop_env.errors import DataError

FORMAT_NAME = "shop-r1-store"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# What marks a folder as a store a writer may replace: a single store or a split folder.
STORE_MARKERS = (MANIFEST, f"train/{MANIFEST}", f"test/{MANIFEST}")
DATA_FILE = "sessions.jsonl"
INDEX_FILE = "index.bin"
PAGE_CODECS = ("none", "zlib")
INDEX_DTYPE = np.dtype([
    ("offset", "<u8"), ("length", "<u8"), ("n_steps", "<u4"),
    ("session_hash", "<u8"), ("user_hash", "<u8"),
])
SPLITS = ("train", "test", "all")


def _encode_page(html: str, codec: str) -> str:
    if codec == "zlib":
        return base64.b64encode(zlib.compress(html.encode("utf-8"), 9)).decode("ascii")
    return html


def _decode_page(data: str, codec: str) -> str:
    if codec == "zlib":
        return zlib.decompress(base64.b64decode(data)).decode("utf-8")
    return data


class StoreWriter(AtomicWriter):
    """Streams sessions into a new store; use as a context manager.

    Memory stays O(1) in the number of sessions: each session is serialised and written
    as it arrives. On ``close()`` the store appears atomically at ``path``; on an
    exception inside the ``with`` block nothing is left behind.
    """

    def __init__(self, path: str | os.PathLike, *, source: str = "unknown", synthetic: bool = False,
                 page_codec: str = "none", description: str = "", overwrite: bool = True,
                 extra_manifest: dict[str, Any] | None = None) -> None:
        if page_codec not in PAGE_CODECS:
            raise ValueError(f"page_codec must be one of {PAGE_CODECS}, got {page_codec!r}")
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists")
        check_replaceable(self.path, STORE_MARKERS, "a session store")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_siblings(self.path, MANIFEST)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.tmp-{os.getpid()}-",
                                          dir=self.path.parent))
        os.chmod(self._tmp, 0o755)  # mkdtemp makes it 0700; a store should be readable like a file
        self._data = open(self._tmp / DATA_FILE, "wb")
        self._index = open(self._tmp / INDEX_FILE, "wb")
        self._offset = 0
        self._n_sessions = 0
        self._n_steps = 0
        self._closed = False
        self.manifest: dict[str, Any] = {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "source": source,
            "synthetic": bool(synthetic), "page_codec": page_codec, "description": description,
            **(extra_manifest or {}),
        }

    def write(self, session: Session) -> None:
        """Append one session."""
        rec = session.to_record()
        codec = self.manifest["page_codec"]
        if codec != "none":
            for step in rec["steps"]:
                step["page"] = _encode_page(step["page"], codec)
        try:
            text = json.dumps(rec, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError:
            raise DataError(f"session {session.session_id!r} holds NaN or Infinity, which is not JSON",
                            path=self.path / DATA_FILE, row=self._n_sessions + 1,
                            field=_non_finite_field(rec)) from None
        line = (text + "\n").encode("utf-8")
        self._data.write(line)
        row = np.array([(self._offset, len(line), len(session.steps), stable_hash(session.session_id),
                         stable_hash(session.user_id))], dtype=INDEX_DTYPE)
        self._index.write(row.tobytes())
        self._offset += len(line)
        self._n_sessions += 1
        self._n_steps += len(session.steps)

    def write_all(self, sessions: Iterable[Session]) -> None:
        for s in sessions:
            self.write(s)

    def close(self) -> Path:
        """Finish the files, fsync, and move the store into place atomically."""
        if self._closed:
            return self.path
        self.manifest.update(n_sessions=self._n_sessions, n_steps=self._n_steps)
        for f in (self._data, self._index):
            f.flush()
            os.fsync(f.fileno())
            f.close()
        with open(self._tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(self.manifest, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        swap_into_place(self._tmp, self.path)
        remove_stale_siblings(self.path, MANIFEST)
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Discard everything written so far."""
        if not self._closed:
            self._data.close()
            self._index.close()
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._closed = True



def _non_finite_field(value: Any, where: str = "") -> str | None:
    """Dotted path of the first NaN/Infinity inside a record (None if there is none)."""
    if isinstance(value, float) and not np.isfinite(value):
        return where or None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        found = _non_finite_field(v, f"{where}[{k}]" if isinstance(k, int) else f"{where}.{k}" if where else k)
        if found:
            return found
    return None


def write_store(path: str | os.PathLike, sessions: Iterable[Session], **kwargs: Any) -> Path:
    """Write ``sessions`` to a new store at ``path`` (atomically) and return the path."""
    with StoreWriter(path, **kwargs) as w:
        w.write_all(sessions)
    return Path(path)


class SessionStore(Sequence[Session]):
    """Read-only random access to a store (or to a split view of one).

    ``len(store)``, ``store[i]`` (a :class:`Session`), ``store.step(i)`` (global step
    index -> ``(session, step_index)``), iteration, and ``store.split(...)``. Only the
    small index is memory-mapped; each access reads one line.
    """

    def __init__(self, path: str | os.PathLike, _rows: np.ndarray | None = None) -> None:
        self.path = Path(path)
        fallback = fallback_dir(self.path, MANIFEST)
        if fallback is not None:
            self.path = fallback
        manifest_path = self.path / MANIFEST
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError("not a session store (no manifest.json)", path=self.path) from None
        except json.JSONDecodeError as e:
            raise DataError(f"manifest is not valid JSON: {e}", path=manifest_path) from None
        if self.manifest.get("format") != FORMAT_NAME:
            raise DataError(f"unknown store format {self.manifest.get('format')!r}", path=manifest_path,
                            field="format")
        if self.manifest.get("version") != FORMAT_VERSION:
            raise DataError(f"unsupported store version {self.manifest.get('version')!r}",
                            path=manifest_path, field="version")
        self._codec = self.manifest.get("page_codec", "none")
        index_path = self.path / INDEX_FILE
        try:
            size = index_path.stat().st_size
        except FileNotFoundError:
            raise DataError("store has no index file", path=index_path) from None
        if size % INDEX_DTYPE.itemsize:
            raise DataError("index size is not a whole number of records (truncated?)", path=index_path)
        self._index = (np.memmap(index_path, dtype=INDEX_DTYPE, mode="r") if size
                       else np.zeros(0, dtype=INDEX_DTYPE))
        expected = self.manifest.get("n_sessions")
        if expected is not None and expected != len(self._index):
            raise DataError(f"index has {len(self._index)} records but the manifest says {expected} sessions",
                            path=index_path, field="n_sessions")
        if len(self._index):
            end = int(self._index["offset"][-1]) + int(self._index["length"][-1])
            data_size = self.data_path.stat().st_size if self.data_path.exists() else 0
            if data_size < end:
                raise DataError(f"data file is truncated: {data_size} bytes, index needs {end}",
                                path=self.data_path, row=len(self._index))
        self._rows = np.arange(len(self._index), dtype=np.int64) if _rows is None else _rows
        self._step_cum: np.ndarray | None = None
        self._lock = threading.Lock()
        # The data file is opened with the index, so that both come from the same store
        # even if the folder is replaced later (a reopen after close() checks that).
        self._file = open(self.data_path, "rb") if self.data_path.exists() else None
        self._data_id = _file_id(os.fstat(self._file.fileno())) if self._file is not None else None

    # -- basic access -----------------------------------------------------------------
    @property
    def data_path(self) -> Path:
        return self.path / DATA_FILE

    @property
    def synthetic(self) -> bool:
        return bool(self.manifest.get("synthetic", False))

    def __len__(self) -> int:
        return len(self._rows)

    def _fh(self):
        if self._file is None:
            with self._lock:
                if self._file is None:
                    file = open(self.data_path, "rb")
                    if self._data_id is not None and _file_id(os.fstat(file.fileno())) != self._data_id:
                        file.close()
                        raise DataError("the store was replaced since it was opened (its index no longer "
                                        "matches this file); open it again", path=self.data_path)
                    self._file = file
        return self._file

    def _read_at(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (fewer at end of file). Positional reads (``pread``)
        keep concurrent readers in threads from moving each other's file position."""
        fh = self._fh()
        if not hasattr(os, "pread"):  # Windows: no pread; serialise seek+read
            with self._lock:
                fh.seek(offset)
                return fh.read(length)
        chunks, got = [], 0
        while got < length:
            chunk = os.pread(fh.fileno(), length - got, offset + got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def read_record(self, i: int) -> dict[str, Any]:
        """The raw JSON record of session ``i`` (pages decoded)."""
        row = int(self._rows[i])
        entry = self._index[row]
        raw = self._read_at(int(entry["offset"]), int(entry["length"]))
        line_no = row + 1
        if len(raw) != int(entry["length"]):
            raise DataError("line is truncated", path=self.data_path, row=line_no)
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"corrupt JSON: {e}", path=self.data_path, row=line_no) from None
        if not isinstance(rec, dict) or not isinstance(rec.get("steps"), list):
            raise DataError("session record must be an object with a 'steps' list",
                            path=self.data_path, row=line_no, field="steps")
        if self._codec != "none":
            for k, step in enumerate(rec["steps"]):
                try:
                    step["page"] = _decode_page(step["page"], self._codec)
                except Exception as e:  # noqa: BLE001 - any decode failure is a data error
                    raise DataError(f"page cannot be decoded ({self._codec}): {e}", path=self.data_path,
                                    row=line_no, field=f"steps[{k}].page") from None
        return rec

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"session index {i} out of range for {len(self)} sessions")
        rec = self.read_record(i)
        try:
            return Session.from_record(rec)
        except RecordError as e:
            raise DataError(e.detail, path=self.data_path, row=int(self._rows[i]) + 1, field=e.field) from None
        except (KeyError, ValueError, TypeError) as e:
            raise DataError(f"invalid session record: {e!r}", path=self.data_path,
                            row=int(self._rows[i]) + 1) from None

    def __iter__(self) -> Iterator[Session]:
        for i in range(len(self)):
            yield self[i]

    def n_steps(self, i: int) -> int:
        """Number of steps of session ``i`` (from the index; no read)."""
        return int(self._index[int(self._rows[i])]["n_steps"])

    @property
    def num_steps(self) -> int:
        """Total steps over the sessions of this view."""
        return int(self._index["n_steps"][self._rows].sum()) if len(self) else 0

    def step_location(self, global_step: int) -> tuple[int, int]:
        """Map a global step index to ``(session_index, step_index)`` within this view."""
        if self._step_cum is None:
            self._step_cum = np.cumsum(self._index["n_steps"][self._rows].astype(np.int64))
        if not 0 <= global_step < (self._step_cum[-1] if len(self._step_cum) else 0):
            raise IndexError(f"step index {global_step} out of range")
        s = int(np.searchsorted(self._step_cum, global_step, side="right"))
        before = int(self._step_cum[s - 1]) if s else 0
        return s, global_step - before

    def step(self, global_step: int) -> tuple[Session, int]:
        """The session holding global step ``global_step`` and the step's index in it."""
        s, k = self.step_location(global_step)
        return self[s], k

    def index_of(self, session_id: str) -> int:
        """Position of ``session_id`` in this view; ``KeyError`` if absent."""
        h = stable_hash(str(session_id))
        for pos in np.nonzero(self._index["session_hash"][self._rows] == h)[0]:
            if str(self.read_record(int(pos))["session_id"]) == str(session_id):
                return int(pos)
        raise KeyError(f"session {session_id!r} not in {self.path}")

    # -- splits -----------------------------------------------------------------------
    def split(self, name: str, *, test_fraction: float = 0.2, seed: int = 0, by: str = "auto") -> "SessionStore":
        """A deterministic train/test view.

        ``by="user"`` (or ``"auto"``, the default) keeps all sessions of a user on one side
        and places a session without a user id by its own id; ``"session"`` splits sessions
        independently. A session's side depends only on (seed, its user or session id), so
        it is stable when sessions are added, with or without user ids.
        """
        if name == "all":
            return self
        if name not in ("train", "test"):
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        if not 0.0 <= test_fraction <= 1.0:
            raise ValueError("test_fraction must be in [0, 1]")
        idx = self._index[self._rows]
        if by not in ("auto", "user", "session"):
            raise ValueError("by must be 'auto', 'user' or 'session'")
        if by == "session":
            keys = idx["session_hash"]
        else:  # a user hash of 0 means no user id: that session is its own unit
            keys = np.where(idx["user_hash"] != 0, idx["user_hash"], idx["session_hash"])
        u = unit_interval(keys, seed)
        mask = u < test_fraction if name == "test" else u >= test_fraction
        return SessionStore(self.path, _rows=self._rows[mask])

    def close(self) -> None:
        """Close the data file (reopened on the next read; safe to call twice)."""
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()
            self._file = None

    def __enter__(self) -> "SessionStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # A store dropped without close() (e.g. by gymnasium's check_env) must not leave
        # its file to the garbage collector, which warns (ResourceWarning).
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # Picklable for AsyncVectorEnv: reopen files in the child process.
        return {"path": self.path, "rows": np.asarray(self._rows)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], _rows=state["rows"])

    def __repr__(self) -> str:
        return f"SessionStore({str(self.path)!r}, sessions={len(self)})"


def _file_id(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


def open_store(path: str | os.PathLike, split: str = "all", **split_kwargs: Any) -> SessionStore:
    """Open the store at ``path``.

    If ``path`` holds per-split sub-stores (``path/train``, ``path/test``, as the embedded
    sample does), ``split`` selects one; otherwise ``split`` takes a seeded hash split of
    the single store (see :meth:`SessionStore.split`).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    p = Path(path)
    if split in ("train", "test"):  # a split folder left aside by a writer killed between its renames
        p = fallback_dir(p, f"{split}/{MANIFEST}") or p
    if split in ("train", "test") and (p / split / MANIFEST).exists():
        return SessionStore(p / split)
    if split == "all" and not (p / MANIFEST).exists() and (p / "train" / MANIFEST).exists():
        raise DataError("this folder holds split stores; pass split='train' or split='test'", path=p)
    store = SessionStore(p)
    return store.split(split, **split_kwargs) if split != "all" else store


def resolve_store(data: "str | os.PathLike | SessionStore", split: str = "all", **split_kwargs: Any) -> SessionStore:
    """The one "a path or an open store" resolver: an open store is used as is (``split``
    ignored), a path is opened with :func:`open_store`."""
    if isinstance(data, SessionStore):
        return data
    return open_store(data, split=split, **split_kwargs)
