"""The policy protocols: any object with a batched ``act`` can be evaluated, trained against
or run in the env; a policy that also has ``submit`` (a served model) is kept busy one
observation at a time (:class:`StreamingPolicy`)."""
from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Completion:
    """One answer of a :class:`StreamingPolicy`: the output text and, optionally, what the
    call cost (logged with the step; e.g. ``attempts``, ``prompt_tokens``, ``latency_s``)."""

    text: str
    stats: dict[str, Any] | None = field(default=None)


@runtime_checkable
class StreamingPolicy(Policy, Protocol):
    """A :class:`Policy` that answers observations one by one as they come, with up to
    ``concurrency`` in flight (e.g. requests to a served model).

    The evaluation runner hands each observation over as soon as its step is ready and
    steps each environment as soon as its answer is back, so no request waits for the
    slowest one of a batch. ``cancel`` stops everything not yet answered (after a failure
    or Ctrl-C): queued observations are never sent and failed calls are not retried.
    """

    concurrency: int

    def submit(self, observation: str, info: dict[str, Any]) -> Future[Completion]:
        ...

    def cancel(self) -> None:
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
