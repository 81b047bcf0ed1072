"""Plain dataclasses for recorded sessions: :class:`Step` and :class:`Session`.

A step holds the page the shopper saw *before* acting, the action taken, and an optional
first-person rationale (SPEC: "The task").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from shop_env.actions import Action


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
        """Inverse of :meth:`to_record`; raises ``KeyError``/``ValueError`` on bad records."""
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
        """Inverse of :meth:`to_record`."""
        return cls(
            session_id=str(rec["session_id"]),
            steps=[Step.from_record(s) for s in rec["steps"]],
            user_id=rec.get("user_id"),
            persona=rec.get("persona"),
            source=rec.get("source") or "unknown",
            metadata=dict(rec.get("metadata") or {}),
        )
