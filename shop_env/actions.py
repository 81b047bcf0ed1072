"""The action schema shared by the data, the parser, SFT targets and scoring (SPEC: "Action space").

One JSON object per model turn::

    {"rationale": "<first-person sentence>", "action": {"type": ..., ...}}

``click`` carries ``name``; ``type_and_submit`` carries ``name`` and ``text``;
``terminate`` carries only ``type``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

CLICK = "click"
TYPE_AND_SUBMIT = "type_and_submit"
TERMINATE = "terminate"
ACTION_TYPES: tuple[str, ...] = (CLICK, TYPE_AND_SUBMIT, TERMINATE)


@dataclass(frozen=True, slots=True)
class Action:
    """One browser action. ``name`` is the element's ``name`` attribute; ``text`` the typed text.

    Construction checks the shape (known type, string fields, no fields a type does not
    carry). Emptiness is allowed here because a model may emit an empty name and still be
    well-formed; recorded (gold) actions are checked with :meth:`validate_recorded`.
    """

    type: str
    name: str = ""
    text: str = ""

    def __post_init__(self) -> None:
        if self.type not in ACTION_TYPES:
            raise ValueError(f"action type must be one of {ACTION_TYPES}, got {self.type!r}")
        if not isinstance(self.name, str) or not isinstance(self.text, str):
            raise ValueError("action name and text must be strings")
        if self.type == TERMINATE and (self.name or self.text):
            raise ValueError("a terminate action carries no name or text")
        if self.type == CLICK and self.text:
            raise ValueError("a click action carries no text")

    def validate_recorded(self) -> None:
        """Raise ``ValueError`` unless this is a complete recorded action (non-empty fields)."""
        if self.type in (CLICK, TYPE_AND_SUBMIT) and not self.name.strip():
            raise ValueError(f"{self.type} action needs a non-empty name")
        if self.type == TYPE_AND_SUBMIT and not self.text.strip():
            raise ValueError("type_and_submit action needs a non-empty text")

    def to_dict(self) -> dict[str, str]:
        """Canonical dict: only the keys this type carries, in a fixed order."""
        if self.type == CLICK:
            return {"type": CLICK, "name": self.name}
        if self.type == TYPE_AND_SUBMIT:
            return {"type": TYPE_AND_SUBMIT, "name": self.name, "text": self.text}
        return {"type": TERMINATE}

    def to_json(self) -> str:
        """Canonical JSON of the action alone."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Action":
        """Build from a canonical dict; raises ``ValueError`` on unknown keys or wrong types."""
        if not isinstance(data, Mapping):
            raise ValueError(f"action must be a JSON object, got {type(data).__name__}")
        allowed = {"type", "name", "text"}
        extra = set(data) - allowed
        if extra:
            raise ValueError(f"unknown action keys: {sorted(extra)}")
        return cls(type=data.get("type"), name=data.get("name", "") or "", text=data.get("text", "") or "")

    def describe(self) -> str:
        """Short human-readable form, used in action histories."""
        if self.type == CLICK:
            return f"click {self.name}"
        if self.type == TYPE_AND_SUBMIT:
            return f"type_and_submit {self.name} {json.dumps(self.text, ensure_ascii=False)}"
        return "terminate"


def format_model_output(rationale: str, action: Action) -> str:
    """The exact text a perfect model emits for (rationale, action): the SFT target format."""
    return json.dumps({"rationale": rationale, "action": action.to_dict()}, ensure_ascii=False)
