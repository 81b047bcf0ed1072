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


# ---------------------------------------------------------------------------------------
# Parsing model outputs (SPEC: "Model output"; issue 3)
# ---------------------------------------------------------------------------------------

#: Outputs longer than this (after nothing is stripped) are rejected without being parsed,
#: which bounds the cost of parsing and of the ROUGE-L terms that follow.
MAX_OUTPUT_CHARS = 65_536

_REQUIRED_ACTION_KEYS: dict[str, frozenset[str]] = {
    CLICK: frozenset({"type", "name"}),
    TYPE_AND_SUBMIT: frozenset({"type", "name", "text"}),
    TERMINATE: frozenset({"type"}),
}
_TOP_LEVEL_KEYS = frozenset({"rationale", "action"})


@dataclass(frozen=True, slots=True)
class ParsedOutput:
    """Result of :func:`parse_model_output`.

    ``ok`` is True exactly when the output has the valid format (SPEC "Format" reward); then
    ``action`` and ``rationale`` are set and ``error`` is None. Otherwise ``action`` and
    ``rationale`` are None and ``error`` says what is wrong, in one short sentence.
    """

    ok: bool
    action: Action | None = None
    rationale: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: ok, action (canonical dict or None), rationale, error."""
        return {"ok": self.ok, "action": None if self.action is None else self.action.to_dict(),
                "rationale": self.rationale, "error": self.error}


class _Reject(ValueError):
    """Internal: a JSON document that is well-formed but outside our schema."""


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _Reject(f"duplicate key {dup!r}")
    return obj


def _reject_constant(name: str) -> Any:
    raise _Reject(f"non-standard JSON constant {name}")


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_constant=_reject_constant)


def _unfence(text: str) -> str | None:
    """The body of one surrounding ```json fence, or None when ``text`` is not fenced."""
    if not (len(text) >= 6 and text.startswith("```") and text.endswith("```")):
        return None
    newline = text.find("\n")
    if newline < 0 or newline > len(text) - 4:
        raise _Reject("malformed code fence")
    language = text[3:newline].strip().lower()
    if language not in ("", "json"):
        raise _Reject(f"code fence language must be json, got {language[:20]!r}")
    body = text[newline + 1:-3]
    if "```" in body:
        raise _Reject("more than one code fence")
    return body.strip()


def _valid_str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _Reject(f"{field} must be a string, got {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Reject(f"{field} contains a lone surrogate") from None
    return value


def _to_parsed(doc: Any) -> ParsedOutput:
    if not isinstance(doc, dict):
        raise _Reject(f"output must be a JSON object, got {type(doc).__name__}")
    if doc.keys() != _TOP_LEVEL_KEYS:
        missing = sorted(_TOP_LEVEL_KEYS - doc.keys())
        extra = sorted(doc.keys() - _TOP_LEVEL_KEYS)
        raise _Reject(f"output keys must be rationale and action (missing {missing}, extra {extra[:5]})")
    rationale = _valid_str(doc["rationale"], "rationale")
    act = doc["action"]
    if not isinstance(act, dict):
        raise _Reject(f"action must be a JSON object, got {type(act).__name__}")
    kind = act.get("type")
    if not isinstance(kind, str) or kind not in _REQUIRED_ACTION_KEYS:
        raise _Reject(f"action type must be one of {ACTION_TYPES}, got {str(kind)[:40]!r}")
    required = _REQUIRED_ACTION_KEYS[kind]
    if act.keys() != required:
        missing = sorted(required - act.keys())
        extra = sorted(act.keys() - required)
        raise _Reject(f"{kind} action keys wrong (missing {missing}, extra {extra[:5]})")
    name = _valid_str(act.get("name", ""), "action.name")
    text = _valid_str(act.get("text", ""), "action.text")
    return ParsedOutput(True, Action(kind, name, text), rationale, None)


def parse_model_output(text: str) -> ParsedOutput:
    """Parse one model turn into (rationale, action); never raises.

    Valid format (SPEC "Model output", the format reward's condition) is one JSON object with
    exactly the keys ``rationale`` (a string, may be empty) and ``action``; the action is an
    object with exactly the keys its type carries: ``click``: type, name;
    ``type_and_submit``: type, name, text; ``terminate``: type. Field values must be strings
    (empty strings are well-formed; the reward simply gives them no attribute credit).

    Leniency, the only one, shared by the reward and the metrics since both call this:

    * leading/trailing whitespace (``str.strip``) is ignored;
    * the object may be wrapped in a single Markdown code fence, ```` ```json ```` or
      ```` ``` ```` on its own first line and ```` ``` ```` at the end.

    Rejected (``ok=False``): any text before or after the object, several objects, extra or
    missing keys at either level (so nested actions and action lists are rejected), values
    of the wrong type, unknown action types, duplicate keys anywhere (ambiguous: JSON parsers
    disagree on which one wins), the non-standard constants ``NaN``/``Infinity``/
    ``-Infinity`` anywhere, raw control characters inside strings (strict JSON), strings that
    decode to lone surrogates (they cannot be written as UTF-8), nesting deeper than the
    interpreter's recursion limit, inputs that are not ``str``, and outputs longer than
    :data:`MAX_OUTPUT_CHARS` characters (rejected before parsing, so cost is bounded).
    """
    if not isinstance(text, str):
        return ParsedOutput(False, error=f"output must be a str, got {type(text).__name__}")
    if len(text) > MAX_OUTPUT_CHARS:
        return ParsedOutput(False, error=f"output longer than {MAX_OUTPUT_CHARS} characters")
    try:
        body = text.strip()
        if body.startswith("```"):
            unfenced = _unfence(body)
            if unfenced is not None:
                body = unfenced
        if not body.startswith("{"):
            raise _Reject("output must be a JSON object")
        return _to_parsed(_DECODER.decode(body))
    except _Reject as exc:
        return ParsedOutput(False, error=str(exc))
    except json.JSONDecodeError as exc:
        return ParsedOutput(False, error=f"invalid JSON: {exc.msg} at char {exc.pos}")
    except RecursionError:
        return ParsedOutput(False, error="invalid JSON: nested too deeply")
    except (ValueError, TypeError, MemoryError) as exc:  # defensive: never raise on model text
        return ParsedOutput(False, error=f"invalid output: {type(exc).__name__}")
