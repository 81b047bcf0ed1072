"""Plain dataclasses for recorded sessions: :class:`Step` and :class:`Session`.

A step holds the page the shopper saw *before* acting, the action taken, and an optional
first-person rationale (SPEC: "The task").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from shop_env.actions import Action
from shop_env.errors import FieldError


class RecordError(FieldError):
    """A session or step record with a field of the wrong type; ``field`` names it
    (``"steps[2].page"``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, f"{field}: {message}")


def _check_field(rec: Mapping[str, Any], key: str, types: tuple[type, ...], where: str = "") -> None:
    value = rec.get(key)
    if value is not None and not isinstance(value, types):
        names = " or ".join(t.__name__ for t in types)
        raise RecordError(f"{where}{key}", f"must be {names} or null, got {type(value).__name__} {value!r:.60}")


@dataclass(slots=True)
class Step:
    """One recorded step: the page seen, then the action taken on it."""

    page_html: str
    action: Action
    url: str | None = None
    rationale: str | None = None
    timestamp: float | str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict (the store's step record, page stored raw)."""
        return {
            "url": self.url,
            "timestamp": self.timestamp,
            "action": self.action.to_dict(),
            "rationale": self.rationale,
            "metadata": self.metadata,
            "page": self.page_html,
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> "Step":
        """Inverse of :meth:`to_record`; raises ``KeyError``/``ValueError`` on bad records
        (:class:`RecordError`, naming the field, for a field of the wrong type)."""
        if not isinstance(rec.get("page"), str):
            raise RecordError("page", f"must be a string (the page's HTML), got {type(rec.get('page')).__name__}")
        _check_field(rec, "url", (str,))
        _check_field(rec, "rationale", (str,))
        _check_field(rec, "timestamp", (int, float, str))
        _check_field(rec, "metadata", (dict,))
        return cls(
            page_html=rec["page"],
            action=Action.from_dict(rec["action"]),
            url=rec.get("url"),
            rationale=rec.get("rationale"),
            timestamp=rec.get("timestamp"),
            metadata=dict(rec.get("metadata") or {}),
        )


@dataclass(slots=True)
class Session:
    """A recorded shopping session: ordered steps, plus who shopped and where it came from."""

    session_id: str
    steps: list[Step]
    user_id: str | None = None
    persona: str | dict[str, Any] | None = None
    source: str = "unknown"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def actions(self) -> list[Action]:
        return [s.action for s in self.steps]

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict (one store line)."""
        return {
            "session_id": self.session_id,
            "user_id": self.user_id,
            "persona": self.persona,
            "source": self.source,
            "metadata": self.metadata,
            "steps": [s.to_record() for s in self.steps],
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> "Session":
        """Inverse of :meth:`to_record`; raises as :meth:`Step.from_record` does, a
        :class:`RecordError` naming ``steps[k].field`` for a bad step field."""
        for key, types in (("user_id", (str, int)), ("persona", (str, dict)), ("source", (str,)),
                           ("metadata", (dict,))):
            _check_field(rec, key, types)
        steps = []
        for k, step in enumerate(rec["steps"]):
            try:
                steps.append(Step.from_record(step))
            except RecordError as e:
                raise RecordError(f"steps[{k}].{e.field}", e.detail) from None
        return cls(
            session_id=str(rec["session_id"]),
            steps=steps,
            user_id=None if rec.get("user_id") is None else str(rec["user_id"]),  # a numeric id reads as text
            persona=rec.get("persona"),
            source=rec.get("source") or "unknown",
            metadata=dict(rec.get("metadata") or {}),
        )
