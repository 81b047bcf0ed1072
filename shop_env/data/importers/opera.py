"""Import OPeRA (``NEU-HAI/OPeRA`` on Hugging Face, CC-BY-4.0) into session stores.

Input: a download of the dataset, laid out as on the Hub (SPEC: "Real data to support")::

    OPeRA_filtered/                       (or OPeRA_full/)
      action/train-00000-of-00001.parquet action rows (older revisions: action/train/train.parquet)
      action/test-00000-of-00001.parquet
      user/{train,test}/{train,test}.parquet    user_id, survey (JSON), raw_survey, transcripts
      session/{train,test}/{train,test}.parquet  per-session table (not read)
      images/                                    screenshots (not read; skip them in the download)

``src`` may be that folder, action files (Parquet, JSON Lines, JSON), a list of them, an
iterable of row dicts (a ``datasets.Dataset``), or a ``{"train": rows, "test": rows}``
mapping (a ``DatasetDict``).

**Splits.** With ``split_by="source"`` (default) OPeRA's own split is kept: when the action
files are train and test files (``train-*`` / ``test-*``, or ``train/`` / ``test/``
folders), ``out/train`` and ``out/test`` stores are written, laid out like ``data/sample``,
so ``open_store(out, split="test")`` is exactly OPeRA-test. A single-split source gives one
store at ``out``. OPeRA's train and test share users (the report counts them in
``users_in_both_splits``); ``split_by="user"`` regroups all sessions into user-disjoint
``train``/``test`` stores by a seeded hash of the user id (``test_fraction``, ``seed``; the
same assignment as ``SessionStore.split(by="user")``). ``split_by="none"`` writes one store.

**Mapping.** Rows are grouped by ``session_id`` and ordered by ``timestamp`` (ties keep
input order); ``action_type`` ``click`` -> ``click``, ``input`` -> ``type_and_submit``,
``terminate`` -> ``terminate``; ``semantic_id`` -> ``name``; ``input_text`` -> ``text``;
``simplified_html`` is the page seen *before* the action; ``url`` and ``rationale`` go to
the step (an empty rationale is None); every other column (``action_id``, ``click_type``,
``element_meta``, ``products``, ...) is kept in ``step.metadata`` as strict JSON. The user
id is the row's ``user_id`` if present, else the prefix of OPeRA's session id
(``<user uuid>_<start time>_<end time>``). The persona is the user's parsed ``survey``
(:mod:`shop_env.data.importers.personas`; other user columns via ``persona_fields``).
Missing values (None, NaN, blank) are missing everywhere (:mod:`.cells`).

**The full variant** (``OPeRA_full``) logs every browser event: besides click and input it
has ``scroll``, ``navigation`` and ``tab_activate`` rows and extra columns
(``navigation_type``, ``scroll_detail``, ``target``, ``simplified_html_new_page``,
``image_new_page``), and **no terminate rows**. The task models click / type_and_submit /
terminate only, so the other rows are dropped and counted by type in
``dropped_action_types``; its sessions end on their last click or input
(``sessions_without_terminate``). Metrics on it have no terminate class; a session's outcome
is still read from its purchase clicks (``shop_env.evaluation.session_metrics``).

**Accounting.** :class:`ImportReport` accounts for every input row,
``rows_in == steps_written + sum(skipped.values())``. Skip reasons (with ``strict=True``
the first one raises a ``DataError`` naming file, row and field, except the full variant's
expected ``action_type_not_modelled`` rows): ``missing_session_id``,
``action_type_not_modelled`` (scroll / navigation / tab_activate), ``unknown_action_type``,
``click_without_name`` / ``input_without_name`` (no ``semantic_id``; ``input_name_fallback``
fills inputs instead, counted in ``filled``), ``input_without_text``, ``missing_page``,
``bad_timestamp``, ``duplicate_action_id`` (first in input order kept),
``session_too_short`` (fewer than ``min_steps`` steps). Counted, not skipped:
``targets_not_on_page`` (a click / type_and_submit target that is not a ``name="..."`` on
its page; an error with ``strict``), ``reordered_sessions``, ``single_step_sessions``,
``sessions_without_terminate``, ``sessions_without_persona``. Structural problems always
raise ``DataError``: a missing required column, an unreadable Parquet file, invalid JSON, a
wrong value type, a user table without ``user_id`` or ``survey``, a session found in both
train and test files.

**Memory.** Parquet is read in record batches with only the needed user columns; rows are
spilled to disk and grouped bucket by bucket (:mod:`.grouping`); ``assume_grouped=True``
streams input already contiguous per session. pyarrow decodes one row group at a time, so
the peak is about one row group of the file plus one session (see the README's figures).
"""
from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from shop_env.actions import CLICK, TERMINATE, TYPE_AND_SUBMIT, Action
from shop_env.data.hashing import stable_hash, unit_interval
from shop_env.data.importers.cells import json_safe, text_cell, timestamp_key
from shop_env.data.importers.grouping import Item, SpillGrouper, StreamGrouper
from shop_env.data.importers.personas import load_personas, user_sources
from shop_env.data.importers.report import ImportReport
from shop_env.data.importers.rows import find_row_files, iter_file_rows, iter_mapping_rows
from shop_env.data.model import Session, Step
from shop_env.data.split_store import SplitStoreWriter
from shop_env.data.store import StoreWriter
from shop_env.errors import DataError

__all__ = ["import_opera", "ImportReport", "OPERA_COLUMNS", "FULL_ONLY_COLUMNS", "timestamp_key"]

OPERA_COLUMNS = ("session_id", "action_id", "timestamp", "action_type", "click_type", "semantic_id",
                 "mouse_position", "element_meta", "url", "window_size", "page_meta", "simplified_html",
                 "rationale", "products", "input_text", "image")
FULL_ONLY_COLUMNS = ("navigation_type", "simplified_html_new_page", "scroll_detail", "target", "image_new_page")
REQUIRED_COLUMNS = ("session_id", "timestamp", "action_type", "simplified_html")
ACTION_TYPE_MAP = {"click": CLICK, "input": TYPE_AND_SUBMIT, TYPE_AND_SUBMIT: TYPE_AND_SUBMIT,
                   "terminate": TERMINATE}
NOT_MODELLED_TYPES = frozenset({"scroll", "navigation", "tab_activate"})
SPLIT_BY = ("source", "user", "none")
# Columns that become Step fields; all others are kept in step.metadata.
_STEP_COLUMNS = frozenset({"session_id", "timestamp", "simplified_html", "url", "rationale",
                           "semantic_id", "input_text", "user_id"})
SKIP_REASONS = ("missing_session_id", "action_type_not_modelled", "unknown_action_type", "click_without_name",
                "input_without_name", "input_without_text", "missing_page", "bad_timestamp",
                "duplicate_action_id", "session_too_short")
_SESSION_USER = re.compile(r"^(.+?)_\d{4}-\d{2}-\d{2}T")
_FULL_NOTE = ("full variant: scroll / navigation / tab_activate rows are not modelled (dropped, counted by type "
              "in dropped_action_types) and there are no terminate rows, so sessions end on their last click "
              "or input: metrics have no terminate class, and a session's outcome comes from its purchase clicks")
# Key list of a row: [timestamp key, action id, user id, file, row, split]
_TS, _AID, _UID, _FILE, _ROW, _SPLIT = range(6)


class _Skip(Exception):
    def __init__(self, reason: str, field: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.field = reason, field


Source = tuple[str, Any, "str | None"]  # (label, Path or iterable of rows, split label)


def import_opera(src: str | os.PathLike | Iterable[Any] | Mapping[str, Any], out: str | os.PathLike, *,
                 users: Any = None, persona_fields: Sequence[str] = (), split_by: str = "source",
                 test_fraction: float = 0.2, seed: int = 0, strict: bool = False, min_steps: int = 1,
                 input_name_fallback: str | None = None, assume_grouped: bool = False,
                 page_codec: str = "none", n_buckets: int = 64, tmp_dir: str | os.PathLike | None = None,
                 batch_size: int = 32) -> ImportReport:
    """Import OPeRA rows from ``src`` into a store, or ``out/train`` + ``out/test`` stores (module doc).

    ``users``: the user table (file, folder, list, rows, ``datasets.Dataset``); default: the
    ``user/`` files of a dataset folder. Stores appear atomically; each manifest carries the
    report. Returns the :class:`ImportReport`. Raises ``DataError`` (file, row, field) on
    structurally bad input, and on any odd row when ``strict``.
    """
    if min_steps < 1:
        raise ValueError("min_steps must be >= 1")
    if split_by not in SPLIT_BY:
        raise ValueError(f"split_by must be one of {SPLIT_BY}, got {split_by!r}")
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError("test_fraction must be in [0, 1]")
    report = ImportReport(out=os.fspath(out), split_by=split_by)
    sources, found_users, report.variant = _resolve_sources(src)
    labels = {s for _, _, s in sources}
    split_mode = split_by == "user" or (split_by == "source" and {"train", "test"} <= labels)
    if split_mode and split_by == "source" and None in labels:
        unlabelled = next(lab for lab, _, s in sources if s is None)
        raise DataError("cannot tell whether this file is train or test data (name it train-* / test-*)",
                        path=unlabelled)
    usrc = user_sources(users) if users is not None else [(os.fspath(f), f) for f in found_users]
    report.input_files = [label for label, _, _ in sources]
    report.user_files = [label for label, _ in usrc]
    personas, report.users_without_survey = load_personas(usrc, persona_fields)
    report.users_loaded = len(personas)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    grouper = StreamGrouper() if assume_grouped else SpillGrouper(n_buckets, tmp_dir or out.parent)
    kwargs = dict(source="opera", synthetic=False, page_codec=page_codec,
                  description="Imported from OPeRA (NEU-HAI/OPeRA)")
    writer: Any = SplitStoreWriter(out, **kwargs) if split_mode else StoreWriter(out, **kwargs)
    split_users: dict[str, set[str]] = {"train": set(), "test": set()}
    saw = {"terminate": False, "full": False, "not_modelled": False}
    try:
        with writer:
            def emit(groups: Iterable[tuple[str, list[Item]]]) -> None:
                for sid, items in groups:
                    session = _build_session(sid, items, grouper, personas, min_steps, strict, report)
                    if session is None:
                        continue
                    split = "all"
                    if split_mode:
                        split = (_split_of_session(sid, items) if split_by == "source"
                                 else _user_split(session, test_fraction, seed))
                        writer.write(session, split)
                        split_users[split].add(session.user_id or "")
                    else:
                        writer.write(session)
                    report.splits[split] = report.splits.get(split, 0) + 1
                    report.sessions_written += 1
                    report.steps_written += len(session.steps)

            for seq, (where, split, row) in enumerate(_iter_sources(sources, batch_size)):
                report.rows_in += 1
                if seq == 0 and any(c in row for c in FULL_ONLY_COLUMNS):
                    saw["full"] = True
                try:
                    sid, key, record = _normalise(row, where, split, input_name_fallback, report, saw)
                except _Skip as skip:
                    # The full variant's scroll / navigation rows are expected there, odd elsewhere.
                    expected = skip.reason == "action_type_not_modelled" and (report.variant == "full" or saw["full"])
                    if strict and not expected:
                        raise DataError(str(skip), path=where[0], row=where[1], field=skip.field) from None
                    report.skip(skip.reason, where)
                    continue
                emit(grouper.add(sid, seq, key, record, where))
            emit(grouper.finish())
            if not report.balanced:  # a bug, never bad input: every branch above counts its row
                raise RuntimeError(f"import report does not balance: {report.to_dict()}")
            _finish_report(report, split_mode, split_users, saw)
            _set_manifests(writer, report, split_mode)
    finally:
        grouper.close()
    return report


def _finish_report(report: ImportReport, split_mode: bool, split_users: dict[str, set[str]],
                   saw: dict[str, bool]) -> None:
    if report.variant == "unknown":
        full = saw["full"] or (saw["not_modelled"] and not saw["terminate"])
        report.variant = "full" if full else "filtered" if saw["terminate"] else "unknown"
    if report.variant == "full":
        report.notes.append(_FULL_NOTE)
    if split_mode:
        shared = (split_users["train"] & split_users["test"]) - {""}
        report.users_in_both_splits = len(shared)
        if shared and report.split_by == "source":
            report.notes.append(f"OPeRA's train and test share {len(shared)} user(s); use split_by='user' "
                                "(--split-by user) for user-disjoint splits")


def _set_manifests(writer: Any, report: ImportReport, split_mode: bool) -> None:
    if split_mode:
        for split, w in writer.writers.items():
            w.manifest.update(import_report=report.to_dict(), split=split)
    else:
        writer.manifest["import_report"] = report.to_dict()


def _split_label(path: Path) -> str | None:
    """``train`` / ``test`` from an OPeRA file name (``train-00000-of-00001.parquet``) or folder."""
    for name in (path.stem.lower(), path.parent.name.lower()):
        for split in ("train", "test"):
            if name == split or name.startswith(split + "-") or name.startswith(split + "_"):
                return split
    return None


def _variant(paths: Iterable[Path]) -> str:
    parts = {part for p in paths for part in p.parts}
    return "full" if "OPeRA_full" in parts else "filtered" if "OPeRA_filtered" in parts else "unknown"


def _resolve_sources(src: Any) -> tuple[list[Source], list[Path], str]:
    """Action sources with their split labels, the user files found in a dataset folder, the variant."""
    if isinstance(src, Mapping):  # {"train": rows, "test": rows}, e.g. a DatasetDict
        bad = [k for k in src if k not in ("train", "test")]
        if bad:
            raise DataError(f"a mapping source must have 'train'/'test' keys, got {bad}")
        return [(f"<rows:{k}>", v, k) for k, v in src.items()], [], "unknown"
    rows_in_memory = isinstance(src, (list, tuple)) and bool(src) and isinstance(src[0], Mapping)
    if rows_in_memory or not isinstance(src, (str, os.PathLike, list, tuple)):
        return [("<rows>", src, None)], [], "unknown"
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
    return ([(os.fspath(f), f, _split_label(f)) for f in actions], found_users,
            _variant(p.resolve() for p in paths))


def _iter_sources(sources: list[Source], batch_size: int
                  ) -> Iterator[tuple[tuple[str, int], str | None, dict[str, Any]]]:
    for label, src, split in sources:
        if isinstance(src, Path):
            rows = iter_file_rows(src, required=REQUIRED_COLUMNS, batch_size=batch_size)
        else:
            rows = ((label, n, row) for _, n, row in iter_mapping_rows(src, required=REQUIRED_COLUMNS))
        for lab, n, row in rows:
            yield (lab, n), split, row


def _normalise(row: Mapping[str, Any], where: tuple[str, int], split: str | None,
               input_name_fallback: str | None, report: ImportReport, saw: dict[str, bool]
               ) -> tuple[str, list[Any], dict[str, Any]]:
    """One OPeRA row -> (session id, key list, step record)."""
    sid = text_cell(row.get("session_id"), where, "session_id")
    if not sid:
        raise _Skip("missing_session_id", "session_id", "row has no session_id")
    raw_type = text_cell(row.get("action_type"), where, "action_type").lower()
    atype = ACTION_TYPE_MAP.get(raw_type)
    if atype is None:
        report.dropped_action_types[raw_type] = report.dropped_action_types.get(raw_type, 0) + 1
        if raw_type in NOT_MODELLED_TYPES:
            saw["not_modelled"] = True
            raise _Skip("action_type_not_modelled", "action_type",
                        f"action_type {raw_type!r} (full variant) is not one the task models")
        raise _Skip("unknown_action_type", "action_type",
                    f"action_type {raw_type!r} is not one of {sorted(ACTION_TYPE_MAP)}")
    saw["terminate"] = saw["terminate"] or atype == TERMINATE
    name = text_cell(row.get("semantic_id"), where, "semantic_id")
    text = text_cell(row.get("input_text"), where, "input_text")
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
    if page is not None and not isinstance(page, str) and not _missing_page(page):
        raise DataError(f"expected text, got {type(page).__name__}", path=where[0], row=where[1],
                        field="simplified_html")
    if _missing_page(page):
        raise _Skip("missing_page", "simplified_html", "row has no simplified_html page")
    ts = timestamp_key(row.get("timestamp"))
    if ts is None:
        raise _Skip("bad_timestamp", "timestamp", f"timestamp {row.get('timestamp')!r} is missing or unparseable")
    action = Action(atype, name if atype != TERMINATE else "", text if atype == TYPE_AND_SUBMIT else "")
    step = Step(page_html=page, action=action, url=text_cell(row.get("url"), where, "url") or None,
                rationale=text_cell(row.get("rationale"), where, "rationale") or None,
                timestamp=json_safe(row.get("timestamp")),
                metadata={k: json_safe(v) for k, v in row.items() if k not in _STEP_COLUMNS})
    action_id = text_cell(row.get("action_id"), where, "action_id") or None
    user_id = text_cell(row.get("user_id"), where, "user_id") or None
    if user_id is None:
        m = _SESSION_USER.match(sid)
        user_id = m.group(1) if m else None
    return sid, [ts, action_id, user_id, where[0], where[1], split], step.to_record()


def _missing_page(page: Any) -> bool:
    return page is None or (isinstance(page, float) and page != page) or (isinstance(page, str) and not page.strip())


def target_on_page(name: str, page: str) -> bool:
    """True when ``name`` is a ``name="..."`` attribute value on ``page`` (raw or HTML-escaped)."""
    return f'name="{name}"' in page or f'name="{html.escape(name)}"' in page


def _split_of_session(sid: str, items: list[Item]) -> str:
    splits = {it.key[_SPLIT] for it in items}
    if len(splits) > 1:
        first = min(items, key=lambda it: it.seq)
        it = min((it for it in items if it.key[_SPLIT] != first.key[_SPLIT]), key=lambda it: it.seq)
        raise DataError(f"session {sid!r} has rows in both train and test files (first seen at "
                        f"{first.key[_FILE]}:{first.key[_ROW]})", path=it.key[_FILE], row=it.key[_ROW],
                        field="session_id")
    return splits.pop()


def _user_split(session: Session, test_fraction: float, seed: int) -> str:
    key = stable_hash(session.user_id or session.session_id)
    return "test" if unit_interval(np.array([key], dtype=np.uint64), seed)[0] < test_fraction else "train"


def _build_session(sid: str, items: list[Item], grouper: Any, personas: Mapping[str, Any], min_steps: int,
                   strict: bool, report: ImportReport) -> Session | None:
    """Dedupe by action id (first in input order wins), order by time, check length and targets."""
    items = sorted(items, key=lambda it: it.seq)
    kept: list[Item] = []
    seen: set[str] = set()
    for it in items:
        action_id = it.key[_AID]
        if action_id is not None and action_id in seen:
            if strict:
                raise DataError(f"duplicate action_id {action_id!r} in session {sid!r}",
                                path=it.key[_FILE], row=it.key[_ROW], field="action_id")
            report.skip("duplicate_action_id", (it.key[_FILE], it.key[_ROW]))
            continue
        if action_id is not None:
            seen.add(action_id)
        kept.append(it)
    ordered = sorted(kept, key=lambda it: (it.key[_TS], it.seq))
    if [it.seq for it in ordered] != [it.seq for it in kept]:
        report.reordered_sessions += 1
    if len(ordered) < min_steps:
        if strict:
            raise DataError(f"session {sid!r} has {len(ordered)} steps, fewer than min_steps={min_steps}",
                            path=ordered[0].key[_FILE], row=ordered[0].key[_ROW], field="session_id")
        for it in ordered:
            report.skip("session_too_short", (it.key[_FILE], it.key[_ROW]))
        return None
    if len(ordered) == 1:
        report.single_step_sessions += 1
    steps = [Step.from_record(grouper.load(it)) for it in ordered]
    for it, step in zip(ordered, steps):
        if step.action.type != TERMINATE and not target_on_page(step.action.name, step.page_html):
            where = (it.key[_FILE], it.key[_ROW])
            if strict:
                raise DataError(f"target {step.action.name!r} is not a name=\"...\" on its page",
                                path=where[0], row=where[1], field="semantic_id")
            report.target_not_on_page(where)
    if steps[-1].action.type != TERMINATE:
        report.sessions_without_terminate += 1
    user_id = ordered[0].key[_UID]
    persona = (personas.get(user_id) if user_id is not None else None) or None
    if persona is None:
        report.sessions_without_persona += 1
    return Session(session_id=sid, steps=steps, user_id=user_id, persona=persona, source="opera",
                   metadata={"source_files": sorted({it.key[_FILE] for it in ordered})})
