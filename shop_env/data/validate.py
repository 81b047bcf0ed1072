"""Check a session store line by line and report every problem with file, line and field.

Checks, per store: the manifest and index open and agree with the data file (no missing or
extra bytes), and session ids are unique. Per session (one line of ``sessions.jsonl``): the
line is valid JSON of a session, the index's step count and id hash match it, and it has at
least one step. Per step: the recorded action is complete (``Action.validate_recorded``),
the page is a non-empty string, and a click / type_and_submit target is a named element of
the page, of any tag, as the environment offers elements
(``shop_env.html.named_elements(..., any_tag=True)``; a name the reader cannot find as an
element but that appears in the page text is a warning, a name absent from the page an
error). Memory stays
bounded: one session is read at a time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from shop_env.actions import TERMINATE
from shop_env.data.model import RecordError, Session, Step
from shop_env.data.store import MANIFEST, SessionStore, stable_hash
from shop_env.errors import DataError


@dataclass(frozen=True)
class Problem:
    """One finding: where (file, 1-based line, field) and what."""

    file: str
    line: int | None
    field: str | None
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        return f"{where}: {self.severity}: " + (f"{self.field}: " if self.field else "") + self.message


@dataclass
class ValidationReport:
    """Result of :func:`validate_store`. ``ok`` means no errors (warnings are allowed)."""

    path: str
    n_sessions: int = 0
    n_steps: int = 0
    problems: list[Problem] = field(default_factory=list)
    n_errors: int = 0
    n_warnings: int = 0
    checked_targets: bool = False
    unchecked_reason: str = "the store could not be opened"  # why targets were not checked
    max_problems: int = 1000

    @property
    def ok(self) -> bool:
        return self.n_errors == 0

    def add(self, problem: Problem) -> None:
        if problem.severity == "error":
            self.n_errors += 1
        else:
            self.n_warnings += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(problem)

    def merge(self, other: "ValidationReport") -> None:
        """Fold another report (e.g. of the other split) into this one."""
        self.n_sessions += other.n_sessions
        self.n_steps += other.n_steps
        self.n_errors += other.n_errors
        self.n_warnings += other.n_warnings
        self.checked_targets = other.checked_targets
        self.unchecked_reason = other.unchecked_reason
        self.problems.extend(other.problems[: max(0, self.max_problems - len(self.problems))])

    def summary(self) -> str:
        head = (f"{self.path}: {self.n_sessions} sessions, {self.n_steps} steps, {self.n_errors} errors, "
                f"{self.n_warnings} warnings" + ("" if self.checked_targets else
                                                  f" (targets not checked: {self.unchecked_reason})"))
        lines = [head, *map(str, self.problems)]
        hidden = self.n_errors + self.n_warnings - len(self.problems)
        if hidden > 0:
            lines.append(f"... and {hidden} more")
        return "\n".join(lines)


def _named_elements() -> Callable[[str], Any] | None:
    try:
        from shop_env.html import named_elements
    except ImportError:
        return None
    return lambda page: named_elements(page, any_tag=True)


def validate_store(path: str | os.PathLike, *, check_targets: bool = True, max_problems: int = 1000
                   ) -> ValidationReport:
    """Validate the store at ``path`` (or both ``train``/``test`` stores of a split folder)."""
    p = Path(path)
    if not (p / MANIFEST).exists() and all((p / s / MANIFEST).exists() for s in ("train", "test")):
        report = ValidationReport(os.fspath(p), max_problems=max_problems)
        for split in ("train", "test"):
            report.merge(validate_store(p / split, check_targets=check_targets, max_problems=max_problems))
        return report
    report = ValidationReport(os.fspath(p), max_problems=max_problems)
    try:
        store = SessionStore(p)
    except DataError as e:
        report.add(Problem(e.path or os.fspath(p), e.row, e.field, e.detail))
        return report
    named = _named_elements() if check_targets else None
    report.checked_targets = named is not None
    report.unchecked_reason = "shop_env.html unavailable" if check_targets else "not asked for (--no-targets)"
    try:
        _check_store(store, report, named)
    finally:
        store.close()
    return report


def _check_store(store: SessionStore, report: ValidationReport, named: Callable[[str], Any] | None) -> None:
    data = os.fspath(store.data_path)
    index = store._index
    end = int(index["offset"][-1]) + int(index["length"][-1]) if len(index) else 0
    size = store.data_path.stat().st_size if store.data_path.exists() else 0
    if size > end:
        report.add(Problem(data, len(index) + 1, None, f"{size - end} bytes after the last indexed line"))
    hashes = np.asarray(index["session_hash"])
    uniq, counts = np.unique(hashes, return_counts=True)
    dup_hashes = set(uniq[counts > 1].tolist())
    first_line: dict[str, int] = {}
    for i in range(len(store)):
        line = i + 1
        try:
            rec = store.read_record(i)
        except DataError as e:
            report.add(Problem(e.path or data, e.row, e.field, e.detail))
            continue
        report.n_sessions += 1
        sid = rec.get("session_id")
        if not isinstance(sid, str) or not sid.strip():
            report.add(Problem(data, line, "session_id", "session id must be a non-empty string"))
            sid = None
        elif stable_hash(sid) != int(index[i]["session_hash"]):
            report.add(Problem(data, line, "session_id", "index hash does not match the session id (stale index?)"))
        if sid is not None and int(stable_hash(sid)) in dup_hashes:
            if sid in first_line:
                report.add(Problem(data, line, "session_id", f"duplicate session id (first on line {first_line[sid]})"))
            else:
                first_line[sid] = line
        if sid is not None:
            try:  # the session's own fields, as every reader will build them
                Session.from_record({**rec, "steps": []})
            except RecordError as e:
                report.add(Problem(data, line, e.field, e.detail))
            except (KeyError, ValueError, TypeError) as e:
                report.add(Problem(data, line, None, f"invalid session record: {e!r}"))
        steps = rec["steps"]
        if len(steps) != int(index[i]["n_steps"]):
            report.add(Problem(data, line, "steps", f"index says {int(index[i]['n_steps'])} steps, line has {len(steps)}"))
        if not steps:
            report.add(Problem(data, line, "steps", "session has no steps"))
        for k, step_rec in enumerate(steps):
            report.n_steps += 1
            _check_step(step_rec, f"steps[{k}]", data, line, report, named)


def _check_step(rec: Any, where: str, data: str, line: int, report: ValidationReport,
                named: Callable[[str], Any] | None) -> None:
    try:
        step = Step.from_record(rec)
    except RecordError as e:
        report.add(Problem(data, line, f"{where}.{e.field}", e.detail))
        return
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        field_name = f"{where}.{e.args[0]}" if isinstance(e, KeyError) else where
        report.add(Problem(data, line, field_name, f"invalid step: {e!r}"))
        return
    try:
        step.action.validate_recorded()
    except ValueError as e:
        report.add(Problem(data, line, f"{where}.action", str(e)))
        return
    if not isinstance(step.page_html, str) or not step.page_html.strip():
        report.add(Problem(data, line, f"{where}.page", "page is empty"))
        return
    if named is None or step.action.type == TERMINATE:
        return
    target = step.action.name
    if target in {el.name for el in named(step.page_html)}:
        return
    if f'name="{target}"' in step.page_html or f"name='{target}'" in step.page_html:
        report.add(Problem(data, line, f"{where}.action.name",
                           f"target {target!r} is in the page text but not a readable named element",
                           "warning"))
    else:
        report.add(Problem(data, line, f"{where}.action.name", f"target {target!r} is not a named element of the page"))
