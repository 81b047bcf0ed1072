"""Write a split folder: ``path/train`` and ``path/test`` session stores, atomically as one.

The layout is the one ``data/sample`` uses and ``open_store(path, split=...)`` reads.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

from shop_env.data.atomic import AtomicWriter, check_replaceable, remove_stale_siblings, swap_into_place
from shop_env.data.model import Session
from shop_env.data.store import MANIFEST, STORE_MARKERS, StoreWriter


class SplitStoreWriter(AtomicWriter):
    """Writes ``path/train`` and ``path/test`` stores (the ``data/sample`` layout) as one atomic folder.

    ``write(session, split)`` appends to one split's :class:`StoreWriter` (``writers[split]``;
    their manifests can be edited before close). Both stores are written inside a temporary
    sibling folder that replaces ``path`` on success; on an exception nothing is left behind.
    """

    def __init__(self, path: str | os.PathLike, splits: Sequence[str] = ("train", "test"), **kwargs: Any) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._marker = f"{splits[0]}/{MANIFEST}"
        check_replaceable(self.path, STORE_MARKERS, "a session store")
        remove_stale_siblings(self.path, self._marker)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.tmp-{os.getpid()}-", dir=self.path.parent))
        os.chmod(self._tmp, 0o755)
        self.writers = {s: StoreWriter(self._tmp / s, **kwargs) for s in splits}
        self._closed = False

    def write(self, session: Session, split: str) -> None:
        if split not in self.writers:
            raise ValueError(f"split must be one of {sorted(self.writers)}, got {split!r}")
        self.writers[split].write(session)

    def close(self) -> Path:
        """Close every split store, then move the folder into place (old folder aside, then removed)."""
        if self._closed:
            return self.path
        for w in self.writers.values():
            w.close()
        swap_into_place(self._tmp, self.path)
        self._closed = True
        return self.path

    def abort(self) -> None:
        if not self._closed:
            for w in self.writers.values():
                w.abort()
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._closed = True
