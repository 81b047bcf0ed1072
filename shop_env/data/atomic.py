"""Crash-safe directory replacement helpers (session stores, checkpoints, saved models).

A store directory is written under a hidden temporary sibling ``.<name>.tmp-<pid>-*`` and
renamed into place. Replacing an existing directory takes two renames (old one aside to
``.<name>.old-<pid>``, new one in), so a writer killed between them leaves no directory at
``path`` but an intact previous one aside: :func:`fallback_dir` finds it for readers, and
:func:`remove_stale_siblings` clears leftovers of dead writers.
"""
from __future__ import annotations

import abc

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, TypeVar

_W = TypeVar("_W", bound="AtomicWriter")


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (best effort; not every OS allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sibling_pid(entry: Path, stem: str) -> int | None:
    """The writer pid encoded in ``.<name>.tmp-<pid>-*`` / ``.<name>.old-<pid>``, if any."""
    rest = entry.name[len(stem):]
    digits = rest.split("-", 1)[0]
    return int(digits) if digits.isdigit() else None


def remove_stale_siblings(path: Path, marker: str) -> None:
    """Delete temp/old directories that killed writers left next to ``path``.

    An ``.old-*`` directory is only removed when ``path`` itself holds a complete store
    (its ``marker`` file exists; otherwise it is the intact previous store and readers
    fall back to it).
    """
    for kind in ("tmp", "old"):
        stem = f".{path.name}.{kind}-"
        for entry in path.parent.glob(f"{stem}*"):
            pid = _sibling_pid(entry, stem)
            if pid is None or pid == os.getpid() or _pid_alive(pid):
                continue
            if kind == "old" and not (path / marker).exists():
                continue
            shutil.rmtree(entry, ignore_errors=True)


def fallback_dir(path: Path, marker: str) -> Path | None:
    """The intact previous store left aside by a writer killed between its two renames."""
    if path.exists():
        return None
    candidates = sorted(e for e in path.parent.glob(f".{path.name}.old-*") if (e / marker).exists())
    return candidates[-1] if candidates else None


class AtomicWriter(abc.ABC):
    """Context-manager protocol of the store writers: ``close()`` on success, ``abort()`` on an exception."""

    @abc.abstractmethod
    def close(self) -> Path:
        """Finish writing and move the result into place; returns its path."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Discard what was written; the previous result stays as it was."""

    def __enter__(self: _W) -> _W:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def check_replaceable(path: Path, markers: str | tuple[str, ...], what: str) -> None:
    """Refuse to write ``what`` over ``path`` unless ``path`` is absent, an empty folder, or
    holds one of ``markers`` (an earlier output of that kind), so that a mistyped output
    path never deletes a user's own files. Raises ``FileExistsError`` naming the path."""
    path = Path(path)
    markers = (markers,) if isinstance(markers, str) else markers
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and (any((path / m).exists() for m in markers) or not any(path.iterdir())):
        return
    kind = "a folder" if path.is_dir() else "a file"
    raise FileExistsError(f"{path} is {kind} that does not hold {what} (no {' or '.join(markers)}); nothing "
                          "was written and it was left as it is: choose a new or empty output folder")


def swap_into_place(tmp: Path, path: Path) -> None:
    """Move the finished folder ``tmp`` to ``path``: an existing ``path`` goes aside to
    ``.<name>.old-<pid>`` first and is removed after the new one is in (see the module doc)."""
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(dest: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``dest`` to fill; on success it replaces ``dest``.

    On an exception the temporary folder is removed and ``dest`` is left as it was. The
    old ``dest`` is removed just before the rename, so a kill in between loses it: use
    this for outputs that can be rebuilt (checkpoints, saved models), not for stores.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(dest, marker="")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-{os.getpid()}-", dir=dest.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; outputs should be readable like plain files
    try:
        yield tmp
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a fsync'ed temporary sibling and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
