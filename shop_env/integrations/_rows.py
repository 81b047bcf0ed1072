"""One record per replayed step of a session store: prompt messages plus the gold action.

Shared by the TRL dataset builder and the verl exporter so that both see exactly the
prompts the environment shows (same builder, same context mode, same budget).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from shop_env.data.store import SessionStore, resolve_store

__all__ = ["StepRow", "iter_step_rows", "resolve_store"]


@dataclass(frozen=True)
class StepRow:
    """A replayed step: where it comes from, the prompt the policy sees, and the recorded action."""

    session_id: str
    session_index: int
    step_index: int
    messages: list[dict[str, str]]
    gold: dict[str, str]
    target_kept: bool
    dropped_pages: list[int]


def iter_step_rows(store: SessionStore, *, context: str = "whole_session", max_chars: int | None = None,
                   max_tokens: int | None = None, tokenizer: Any = None, include_persona: bool = True,
                   limit: int | None = None) -> Iterator[StepRow]:
    """Yield one :class:`StepRow` per step of every session, in store order.

    ``limit`` stops after that many rows. The prompt is the one
    :func:`shop_env.prompts.build_prompt` builds with the given context mode and budget
    (the prompt for step ``k`` shows pages ``0..k`` and actions ``0..k-1``).
    """
    from shop_env.prompts import PromptBuilder

    builder = PromptBuilder(context=context, max_chars=max_chars, max_tokens=max_tokens, tokenizer=tokenizer,
                            include_persona=include_persona)  # caches page blocks within a session
    n = 0
    for s_idx in range(len(store)):
        session = store[s_idx]
        for k, step in enumerate(session.steps):
            if limit is not None and n >= limit:
                return
            prompt = builder.build(session, k)
            yield StepRow(
                session_id=session.session_id, session_index=s_idx, step_index=k,
                messages=[{"role": m["role"], "content": m["content"]} for m in prompt.messages],
                gold=step.action.to_dict(), target_kept=bool(prompt.target_kept),
                dropped_pages=list(prompt.dropped_pages),
            )
            n += 1
