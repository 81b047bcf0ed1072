"""Errors that say where bad input is: file, row or line, and field."""
from __future__ import annotations

import os


class DataError(ValueError):
    """Bad input data. The message names the file, the row/line and the field."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None,
                 row: int | None = None, field: str | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        self.row = row
        self.field = field
        where = []
        if self.path is not None:
            where.append(self.path)
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        self.detail = message
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class FieldError(ValueError):
    """A value of a named field is wrong (before anyone knows which file it came from):
    ``field`` names it, ``detail`` says why, so a caller can report it as a
    :class:`DataError` with the file added."""

    def __init__(self, field: str, detail: str, message: str | None = None) -> None:
        super().__init__(detail if message is None else message)
        self.field = field
        self.detail = detail


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the pip command that installs it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is required for this feature: pip install 'shop-r1[{extra}]'")
