"""The policy protocol: any object with a batched ``act`` can be evaluated, trained against or run in the env."""
from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence, runtime_checkable


@runtime_checkable
class Policy(Protocol):
    """A batched policy: one output text (rationale + JSON action) per observation.

    ``observations`` are the environment's prompt texts; ``infos`` the matching ``info``
    dicts from the environment (they carry ``messages``, the page's named elements, the
    session id and step index). Implementations must not read the gold action.
    """

    name: str

    def act(self, observations: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        ...


class CallablePolicy:
    """Adapts a plain ``callable(observation_text) -> output_text`` to :class:`Policy`."""

    def __init__(self, fn: Callable[[str], str], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")

    def act(self, observations: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        return [self.fn(o) for o in observations]


def as_policy(obj: Policy | Callable[[str], str]) -> Policy:
    """Return ``obj`` if it has a batched ``act``, else wrap a plain callable."""
    if hasattr(obj, "act"):
        return obj  # type: ignore[return-value]
    if callable(obj):
        return CallablePolicy(obj)
    raise TypeError(f"expected a Policy (with .act) or a callable, got {type(obj).__name__}")
