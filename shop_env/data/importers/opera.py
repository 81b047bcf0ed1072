"""Import OPeRA (``NEU-HAI/OPeRA`` on Hugging Face, CC-BY-4.0) into a session store.

Input: the dataset's own files -- the ``filtered_action`` or ``full_action`` Parquet shards
(``OPeRA_filtered/action/train-*.parquet``), optionally the user Parquet with the persona
survey (``OPeRA_filtered/user/train/train.parquet``) -- or the same rows as JSON / JSON
Lines, or any iterable of row dicts (e.g. a ``datasets.Dataset``). Point ``src`` at a file,
a folder (``OPeRA_filtered``: action files are those under an ``action`` folder, user files
those under a ``user`` folder; other folders such as ``images`` are ignored), or a list.

Mapping (SPEC: "Real data to support"): rows are grouped by ``session_id`` and ordered by
``timestamp`` (ties keep input order); ``action_type`` ``click`` -> ``click``, ``input`` ->
``type_and_submit``, ``terminate`` -> ``terminate``; ``semantic_id`` -> ``name``;
``input_text`` -> ``text``; ``simplified_html`` is the page seen *before* the action;
``url`` and ``rationale`` go to the step; every other column (``action_id``,
``action_type``, ``click_type``, ``mouse_position``, ``element_meta``, ``window_size``,
``page_meta``, ``products``, ``image``, ...) is kept verbatim in ``step.metadata``. The
user id is the row's ``user_id`` column if present, else the prefix of OPeRA's session id
(``<user uuid>_<start time>_<end time>``); its row in the user file becomes the persona
(a dict of the non-empty survey columns).

Nothing is silently lost: :class:`ImportReport` accounts for every input row,
``rows_in == steps_written + sum(skipped.values())``. Odd rows are skipped and counted by
reason (with ``strict=True`` the first one raises a ``DataError`` naming file, row, field):

- ``missing_session_id``: empty ``session_id``.
- ``unknown_action_type``: an action type other than click / input / terminate (e.g.
  ``scroll`` in raw logs); the three are all the task models.
- ``click_without_name`` / ``input_without_name``: no ``semantic_id``, so no gold target.
  (``input_name_fallback`` fills a missing input name instead, counted in ``filled``.)
- ``input_without_text``: an input whose ``input_text`` is empty.
- ``missing_page``: empty ``simplified_html`` (nothing to observe).
- ``bad_timestamp``: missing or unparseable timestamp (ISO 8601 or a number).
- ``duplicate_action_id``: a repeated ``action_id`` within a session; the first row in
  input order is kept.
- ``session_too_short``: rows of a session left with fewer than ``min_steps`` steps.
  Default ``min_steps=1`` keeps one-step sessions (a page and an action are a complete
  example); they are counted in ``single_step_sessions``.

Counted, not skipped: ``reordered_sessions`` (rows were not in timestamp order),
``sessions_without_persona``. Structural problems always raise ``DataError``: a missing
required column, an unreadable or truncated Parquet file, an invalid JSON line, a wrong
value type.
Metadata cells are kept as JSON: binary cells (e.g. raw image bytes) become the text
``<binary: N bytes>``, other non-JSON values their ``str()``.

Memory stays bounded for large logs: rows are spilled to disk and grouped bucket by bucket
(:mod:`shop_env.data.importers.grouping`); ``assume_grouped=True`` streams input whose
rows are already contiguous per session in one pass.

With internet access (not used by the tests)::

    from datasets import load_dataset
    from shop_env.data import import_opera
    for split in ("train", "test"):
        rows = load_dataset("NEU-HAI/OPeRA", "filtered_action", split=split)
        users = load_dataset("NEU-HAI/OPeRA", "filtered_user", split=split)
        users.to_parquet(f"opera_users_{split}.parquet")
        import_opera(rows, f"data/opera/{split}", users=f"opera_users_{split}.parquet")

or ``huggingface-cli download NEU-HAI/OPeRA --repo-type dataset --local-dir OPeRA`` and
``shop-r1 data import-opera OPeRA/OPeRA_filtered data/opera``.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from shop_env.actions import CLICK, TERMINATE, TYPE_AND_SUBMIT, Action
from shop_env.data.importers.grouping import Item, SpillGrouper, StreamGrouper
from shop_env.data.importers.rows import find_row_files, iter_file_rows, iter_mapping_rows
from shop_env.data.model import Session, Step
from shop_env.data.store import StoreWriter
from shop_env.errors import DataError

OPERA_COLUMNS = ("session_id", "action_id", "timestamp", "action_type", "click_type", "semantic_id",
                 "mouse_position", "element_meta", "url", "window_size", "page_meta", "simplified_html",
                 "rationale", "products", "input_text", "image")
REQUIRED_COLUMNS = ("session_id", "timestamp", "action_type", "simplified_html")
ACTION_TYPE_MAP = {"click": CLICK, "input": TYPE_AND_SUBMIT, TYPE_AND_SUBMIT: TYPE_AND_SUBMIT,
                   "terminate": TERMINATE}
# Columns that become Step fields; all others are kept in step.metadata.
_STEP_COLUMNS = frozenset({"session_id", "timestamp", "simplified_html", "url", "rationale",
                           "semantic_id", "input_text", "user_id"})
SKIP_REASONS = ("missing_session_id", "unknown_action_type", "click_without_name", "input_without_name",
                "input_without_text", "missing_page", "bad_timestamp", "duplicate_action_id",
                "session_too_short")
_SESSION_USER = re.compile(r"^(.+?)_\d{4}-\d{2}-\d{2}T")
_MAX_EXAMPLES = 5


@dataclass
class ImportReport:
    """What an import did with every input row."""

    out: str | None = None
    rows_in: int = 0
    steps_written: int = 0
    sessions_written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skip_examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> ["file:row", ...]
    filled: dict[str, int] = field(default_factory=dict)
    reordered_sessions: int = 0
    single_step_sessions: int = 0
    sessions_without_persona: int = 0
    users_loaded: int = 0
    input_files: list[str] = field(default_factory=list)

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())

    @property
    def balanced(self) -> bool:
        """True when every input row is either a written step or a counted skip."""
        return self.rows_in == self.steps_written + self.rows_skipped

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_skipped": self.rows_skipped, "balanced": self.balanced}

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [f"rows in: {self.rows_in}  steps written: {self.steps_written}  "
                 f"sessions written: {self.sessions_written}  rows skipped: {self.rows_skipped}"]
        for reason in sorted(self.skipped):
            ex = ", ".join(self.skip_examples.get(reason, []))
            lines.append(f"  skipped {reason}: {self.skipped[reason]}  (e.g. {ex})")
        for what, n in sorted(self.filled.items()):
            lines.append(f"  filled {what}: {n}")
        lines.append(f"reordered sessions: {self.reordered_sessions}  single-step sessions: "
                     f"{self.single_step_sessions}  users with persona: {self.users_loaded}  "
                     f"sessions without persona: {self.sessions_without_persona}")
        return "\n".join(lines)

    def _skip(self, reason: str, where: tuple[str, int], n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n
        examples = self.skip_examples.setdefault(reason, [])
        if len(examples) < _MAX_EXAMPLES:
            examples.append(f"{where[0]}:{where[1]}")


class _Skip(Exception):
    def __init__(self, reason: str, field: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.field = reason, field


def import_opera(src: str | os.PathLike | Iterable[Any], out: str | os.PathLike, *,
                 users: str | os.PathLike | None = None, strict: bool = False, min_steps: int = 1,
                 input_name_fallback: str | None = None, assume_grouped: bool = False,
                 page_codec: str = "none", n_buckets: int = 64, tmp_dir: str | os.PathLike | None = None,
                 batch_size: int = 256) -> ImportReport:
    """Import OPeRA rows from ``src`` into a new session store at ``out`` (see the module doc).

    The store appears atomically at ``out``; its manifest carries the report. Returns the
    :class:`ImportReport`. Raises ``DataError`` (file, row, field) on structurally bad input,
    and on any odd row when ``strict``.
    """
    if min_steps < 1:
        raise ValueError("min_steps must be >= 1")
    report = ImportReport(out=os.fspath(out))
    sources, user_files = _resolve_sources(src, users)
    report.input_files = [label for label, _ in sources]
    personas = _load_personas(user_files)
    report.users_loaded = len(personas)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    grouper = StreamGrouper() if assume_grouped else SpillGrouper(n_buckets, tmp_dir or out.parent)
    try:
        with StoreWriter(out, source="opera", synthetic=False, page_codec=page_codec,
                         description="Imported from OPeRA (NEU-HAI/OPeRA)") as writer:
            def emit(groups: Iterable[tuple[str, list[Item]]]) -> None:
                for sid, items in groups:
                    session = _build_session(sid, items, grouper, personas, min_steps, strict, report)
                    if session is not None:
                        writer.write(session)
                        report.sessions_written += 1
                        report.steps_written += len(session.steps)

            for seq, (where, row) in enumerate(_iter_sources(sources, batch_size)):
                report.rows_in += 1
                try:
                    sid, key, record = _normalise(row, where, input_name_fallback, report)
                except _Skip as skip:
                    if strict:
                        raise DataError(str(skip), path=where[0], row=where[1], field=skip.field) from None
                    report._skip(skip.reason, where)
                    continue
                emit(grouper.add(sid, seq, key, record, where))
            emit(grouper.finish())
            if not report.balanced:  # a bug, never bad input: every branch above counts its row
                raise RuntimeError(f"import report does not balance: {report.to_dict()}")
            writer.manifest["import_report"] = report.to_dict()
    finally:
        grouper.close()
    return report


def _resolve_sources(src: Any, users: Any) -> tuple[list[tuple[str, Any]], list[Path]]:
    """[(label, path-or-iterable)] of action inputs, and the user files to read personas from."""
    rows_in_memory = isinstance(src, (list, tuple)) and bool(src) and isinstance(src[0], Mapping)
    if rows_in_memory or not isinstance(src, (str, os.PathLike, list, tuple)):
        return [("<rows>", src)], _user_files(users)
    paths = [Path(p) for p in (src if isinstance(src, (list, tuple)) else [src])]
    actions: list[Path] = []
    found_users: list[Path] = []
    for p in paths:
        files = find_row_files(p)
        if p.is_dir() and {"OPeRA_filtered", "OPeRA_full"} <= {d.name for d in p.iterdir()}:
            raise DataError("folder holds both OPeRA_filtered and OPeRA_full; point at one of them", path=p)
        if p.is_dir() and any("action" in f.relative_to(p).parts[:-1] for f in files):
            parts = [(f, f.relative_to(p).parts[:-1]) for f in files]
            actions += [f for f, d in parts if "action" in d]
            found_users += [f for f, d in parts if "user" in d]
        else:
            actions += files
    if not actions:
        raise DataError("no Parquet/JSON/JSONL action files found", path=paths[0] if paths else None)
    return [(os.fspath(f), f) for f in actions], (_user_files(users) if users is not None else found_users)


def _user_files(users: Any) -> list[Path]:
    if users is None:
        return []
    return [f for u in (users if isinstance(users, (list, tuple)) else [users]) for f in find_row_files(Path(u))]


def _iter_sources(sources: list[tuple[str, Any]], batch_size: int) -> Iterator[tuple[tuple[str, int], dict]]:
    for _, src in sources:
        rows = (iter_file_rows(src, required=REQUIRED_COLUMNS, batch_size=batch_size) if isinstance(src, Path)
                else iter_mapping_rows(src, required=REQUIRED_COLUMNS))
        for label, n, row in rows:
            yield (label, n), row


def _load_personas(files: list[Path]) -> dict[str, dict[str, Any]]:
    """user_id -> persona (the user row's non-empty columns except the id). Users are few."""
    personas: dict[str, dict[str, Any]] = {}
    for f in files:
        for label, n, row in iter_file_rows(f, required=("user_id",)):
            uid = _text(row.get("user_id"), (label, n), "user_id")
            if not uid:
                raise DataError("user row has an empty user_id", path=label, row=n, field="user_id")
            personas[uid] = {k: v for k, v in row.items() if k != "user_id" and v not in (None, "")}
    return personas


def _text(value: Any, where: tuple[str, int], column: str) -> str:
    """A text cell as a stripped string ('' for null); numbers are accepted and converted."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"expected text, got {type(value).__name__}", path=where[0], row=where[1], field=column)


def _json_safe(value: Any) -> Any:
    """A metadata cell as JSON: containers recursively, datetimes as ISO, bytes summarised."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return f"<binary: {len(value)} bytes>"
    return str(value)


_FRACTION = re.compile(r"(?<=\d\d:\d\d:\d\d)\.(\d+)")


def timestamp_key(value: Any) -> float | None:
    """Sortable seconds for an ISO 8601 string, a number, or a datetime; None if unusable."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str) or not value.strip():
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


def _normalise(row: Mapping[str, Any], where: tuple[str, int], input_name_fallback: str | None,
               report: ImportReport) -> tuple[str, list[Any], dict[str, Any]]:
    """One OPeRA row -> (session id, [timestamp key, action id, user id, file, row], step record)."""
    sid = _text(row.get("session_id"), where, "session_id")
    if not sid:
        raise _Skip("missing_session_id", "session_id", "row has no session_id")
    raw_type = _text(row.get("action_type"), where, "action_type").lower()
    atype = ACTION_TYPE_MAP.get(raw_type)
    if atype is None:
        raise _Skip("unknown_action_type", "action_type",
                    f"action_type {raw_type!r} is not one of {sorted(ACTION_TYPE_MAP)}")
    name = _text(row.get("semantic_id"), where, "semantic_id")
    text = _text(row.get("input_text"), where, "input_text")
    if atype == CLICK and not name:
        raise _Skip("click_without_name", "semantic_id", "click row has no semantic_id (element name)")
    if atype == TYPE_AND_SUBMIT and not name:
        if not input_name_fallback:
            raise _Skip("input_without_name", "semantic_id", "input row has no semantic_id (input name)")
        name = input_name_fallback
        report.filled["input_name_fallback"] = report.filled.get("input_name_fallback", 0) + 1
    if atype == TYPE_AND_SUBMIT and not text:
        raise _Skip("input_without_text", "input_text", "input row has an empty input_text")
    page = row.get("simplified_html")
    if page is not None and not isinstance(page, str):
        raise DataError(f"expected text, got {type(page).__name__}", path=where[0], row=where[1],
                        field="simplified_html")
    if not page or not page.strip():
        raise _Skip("missing_page", "simplified_html", "row has no simplified_html page")
    ts = timestamp_key(row.get("timestamp"))
    if ts is None:
        raise _Skip("bad_timestamp", "timestamp", f"timestamp {row.get('timestamp')!r} is missing or unparseable")
    action = Action(atype, name if atype != TERMINATE else "", text if atype == TYPE_AND_SUBMIT else "")
    raw_ts = row.get("timestamp")
    step = Step(page_html=page, action=action, url=_text(row.get("url"), where, "url") or None,
                rationale=_text(row.get("rationale"), where, "rationale") or None,
                timestamp=raw_ts.isoformat() if isinstance(raw_ts, datetime) else raw_ts,
                metadata={k: _json_safe(v) for k, v in row.items() if k not in _STEP_COLUMNS})
    action_id = _text(row.get("action_id"), where, "action_id") or None
    user_id = _text(row.get("user_id"), where, "user_id") or None
    if user_id is None:
        m = _SESSION_USER.match(sid)
        user_id = m.group(1) if m else None
    return sid, [ts, action_id, user_id, where[0], where[1]], step.to_record()


def _build_session(sid: str, items: list[Item], grouper: Any, personas: Mapping[str, Any], min_steps: int,
                   strict: bool, report: ImportReport) -> Session | None:
    """Dedupe by action id (first in input order wins), order by time, check length."""
    items = sorted(items, key=lambda it: it.seq)
    kept: list[Item] = []
    seen: set[str] = set()
    for it in items:
        action_id = it.key[1]
        if action_id is not None and action_id in seen:
            if strict:
                raise DataError(f"duplicate action_id {action_id!r} in session {sid!r}",
                                path=it.key[3], row=it.key[4], field="action_id")
            report._skip("duplicate_action_id", (it.key[3], it.key[4]))
            continue
        if action_id is not None:
            seen.add(action_id)
        kept.append(it)
    ordered = sorted(kept, key=lambda it: (it.key[0], it.seq))
    if [it.seq for it in ordered] != [it.seq for it in kept]:
        report.reordered_sessions += 1
    if len(ordered) < min_steps:
        if strict:
            raise DataError(f"session {sid!r} has {len(ordered)} steps, fewer than min_steps={min_steps}",
                            path=ordered[0].key[3], row=ordered[0].key[4], field="session_id")
        for it in ordered:
            report._skip("session_too_short", (it.key[3], it.key[4]))
        return None
    if len(ordered) == 1:
        report.single_step_sessions += 1
    user_id = ordered[0].key[2]
    persona = personas.get(user_id) if user_id is not None else None
    if persona is None:
        report.sessions_without_persona += 1
    steps = [Step.from_record(grouper.load(it)) for it in ordered]
    return Session(session_id=sid, steps=steps, user_id=user_id, persona=persona, source="opera",
                   metadata={"source_files": sorted({it.key[3] for it in ordered})})
