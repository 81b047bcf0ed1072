"""Cell conversions shared by importers: text, JSON-safe metadata, sortable timestamps.

Missing is missing: None, NaN (pandas' empty cell), pandas NA/NaT and blank strings are all
read as absent -- text ``""``, metadata ``null`` -- never as the text "nan". Non-finite
numbers become ``null`` too, so what importers write is strict JSON.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any, Mapping

from shop_env.data.importers.rows import is_missing
from shop_env.errors import DataError


def text_cell(value: Any, where: tuple[str, int], column: str) -> str:
    """A text cell as a stripped string (``""`` when missing); numbers are accepted and converted."""
    if is_missing(value):
        return ""
    if isinstance(value, str):
        return value.strip()
    if hasattr(value, "item") and not isinstance(value, (int, float)):  # numpy scalars
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value) if math.isfinite(value) else ""
    raise DataError(f"expected text, got {type(value).__name__}", path=where[0], row=where[1], field=column)


def json_safe(value: Any) -> Any:
    """A metadata cell as strict JSON: containers recursively, datetimes as ISO, bytes summarised,
    missing and non-finite values as None."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return value
    if is_missing(value):
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return f"<binary: {len(value)} bytes>"
    if hasattr(value, "item"):  # numpy scalars
        try:
            return json_safe(value.item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "tolist"):  # numpy arrays
        return json_safe(value.tolist())
    return str(value)


_FRACTION = re.compile(r"(?<=\d\d:\d\d:\d\d)\.(\d+)")


def timestamp_key(value: Any) -> float | None:
    """Sortable seconds for an ISO 8601 string, a number, or a datetime; None if unusable."""
    if is_missing(value):
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    s = value.strip()
    try:
        f = float(s)
        return f if math.isfinite(f) else None
    except ValueError:
        pass
    try:
        s = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
        # Python 3.10's fromisoformat takes only 3 or 6 fraction digits: use 6
        s = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], s, count=1)
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
