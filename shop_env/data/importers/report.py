""":class:`ImportReport`: what an OPeRA import did with every input row."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

_MAX_EXAMPLES = 5


@dataclass
class ImportReport:
    """What an import did with every input row (``rows_in == steps_written + rows_skipped``).

    ``splits``: sessions written per split store (``{"all": n}`` for a single store).
    ``dropped_action_types``: rows of action types the task does not model (the full
    variant's ``scroll``, ``navigation``, ``tab_activate``), by type name.
    ``targets_not_on_page``: written click / type_and_submit steps whose target name is not
    a ``name="..."`` on their own page. ``sessions_without_terminate``: sessions written
    whose last step is not a terminate (every session of the full variant).
    """

    out: str | None = None
    variant: str = "unknown"  # "filtered" | "full" | "unknown"
    split_by: str = "source"
    rows_in: int = 0
    steps_written: int = 0
    sessions_written: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    skip_examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> ["file:row", ...]
    dropped_action_types: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    targets_not_on_page: int = 0
    target_not_on_page_examples: list[str] = field(default_factory=list)
    reordered_sessions: int = 0
    single_step_sessions: int = 0
    sessions_without_terminate: int = 0
    sessions_without_persona: int = 0
    users_loaded: int = 0
    users_without_survey: int = 0
    users_in_both_splits: int | None = None
    input_files: list[str] = field(default_factory=list)
    user_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
        lines = [f"variant: {self.variant}  rows in: {self.rows_in}  steps written: {self.steps_written}  "
                 f"sessions written: {self.sessions_written} {self.splits}  rows skipped: {self.rows_skipped}"]
        for reason in sorted(self.skipped):
            ex = ", ".join(self.skip_examples.get(reason, []))
            lines.append(f"  skipped {reason}: {self.skipped[reason]}  (e.g. {ex})")
        if self.dropped_action_types:
            lines.append(f"  dropped action types: {dict(sorted(self.dropped_action_types.items()))}")
        for what, n in sorted(self.filled.items()):
            lines.append(f"  filled {what}: {n}")
        lines.append(f"targets not on their page: {self.targets_not_on_page}"
                     + (f"  (e.g. {', '.join(self.target_not_on_page_examples)})" if self.targets_not_on_page else ""))
        lines.append(f"reordered sessions: {self.reordered_sessions}  single-step sessions: "
                     f"{self.single_step_sessions}  sessions without terminate: {self.sessions_without_terminate}")
        lines.append(f"users loaded: {self.users_loaded} (without survey: {self.users_without_survey})  "
                     f"sessions without persona: {self.sessions_without_persona}"
                     + ("" if self.users_in_both_splits is None
                        else f"  users in both train and test: {self.users_in_both_splits}"))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def skip(self, reason: str, where: tuple[str, int], n: int = 1) -> None:
        """Count ``n`` skipped rows for ``reason``, keeping a few ``file:row`` examples."""
        self.skipped[reason] = self.skipped.get(reason, 0) + n
        examples = self.skip_examples.setdefault(reason, [])
        if len(examples) < _MAX_EXAMPLES:
            examples.append(f"{where[0]}:{where[1]}")

    def target_not_on_page(self, where: tuple[str, int]) -> None:
        self.targets_not_on_page += 1
        if len(self.target_not_on_page_examples) < _MAX_EXAMPLES:
            self.target_not_on_page_examples.append(f"{where[0]}:{where[1]}")
