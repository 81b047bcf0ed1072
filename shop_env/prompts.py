"""Prompt builder: a session prefix -> chat messages for the LLM, within a context budget.

Context modes (SPEC, paper Table 5):

* ``"whole_session"`` (default): every page seen so far, interleaved with the actions
  taken on them, then the current page.
* ``"latest_step"``: the action history, then only the current page.

The prompt for step ``k`` (0-based) shows pages ``0..k`` and actions ``0..k-1``; the
model must predict action ``k``. Previous rationales are not shown (SPEC: rationales are
part of the prediction, not of the RL context).

Budget (``max_chars`` and/or ``max_tokens``) counts the whole prompt ``text`` (system
prompt + ``"\\n\\n"`` + user turn); a chat template adds a few tokens of its own on top.
When the prompt is over budget, pages are dropped **oldest first** (replaced by a short
placeholder that keeps the page's URL); the action history and the current page are
kept. Only if the current page still does not fit is it cut (deterministically: its
first characters up to the last complete tag that fits), and only if even an empty
current page does not fit are the oldest steps (placeholder and action line) folded into
one "omitted" line; ``Prompt.fits`` is False if even that is not enough. ``max_tokens``
without a tokenizer is enforced as ``max_tokens * CHARS_PER_TOKEN`` characters (an
estimate); with a tokenizer the final text is counted exactly (``Prompt.n_tokens``).

This is the one prompt layout: the environment, SFT (``agents.training.sft.build_sft_examples``),
GRPO and evaluation all build prompts here, so a model is trained and evaluated on the same text.

:class:`PromptBuilder` caches per-session work (page blocks and their sizes), so the
environment pays only for joining strings at each step; :func:`build_prompt` is the
one-shot form.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from shop_env.data.model import Session

__all__ = ["CONTEXT_MODES", "CHARS_PER_TOKEN", "SYSTEM_PROMPT", "Prompt", "PromptBuilder",
           "build_prompt", "count_tokens"]

CONTEXT_MODES: tuple[str, ...] = ("whole_session", "latest_step")
CHARS_PER_TOKEN = 3
"""Characters per token assumed when ``max_tokens`` is given without a tokenizer
(conservative for HTML, which tokenises at roughly 3-4 characters per token)."""

SYSTEM_PROMPT = """\
You are simulating a real human shopper browsing an online store. You see the web pages \
this shopper has seen so far in the session (as simplified HTML) and the actions the \
shopper took on them. Predict the shopper's NEXT action on the current page, and the \
shopper's reason for it. Reproduce what this person would do next; do not try to \
complete a purchase or to find the best product.

Interactive elements carry a name="..." attribute (for example nav_bar.search_input or \
search_results.<product>.product_title). Refer to elements only by that name.

Allowed actions (exactly one per reply):
- {"type": "type_and_submit", "name": "<input name>", "text": "<typed text>"}: type text \
into an input (usually the search box) and press Enter.
- {"type": "click", "name": "<clickable name>"}: click an element. No "text".
- {"type": "terminate"}: close the browser and leave the session. No other keys.

Reply with one JSON object and nothing else:
{"rationale": "<one first-person sentence explaining why>", "action": {"type": ..., ...}}
Example: {"rationale": "I want to compare prices before deciding.", \
"action": {"type": "click", "name": "search_results.usb_c_cable.product_title"}}"""

_INSTRUCTION = ("What does the shopper do next on the current page? Reply with one JSON object: "
                '{"rationale": "...", "action": {...}}.\n')
_OMITTED = "(page omitted to fit the context budget)\n"
_PAGE_CUT = "\n(... rest of the page cut to fit the context budget)\n"
_SEP = "\n\n"


@dataclass(slots=True)
class Prompt:
    """A built prompt. ``messages`` = [system, user]; ``text`` = system + ``"\\n\\n"`` + user.

    ``dropped_pages``: 0-based step indices whose pages were dropped for the budget
    (pages that a ``latest_step`` prompt never shows are not listed). ``target_kept`` is
    True only when the gold element's ``name="..."`` is in the current page as served (a cut
    removed it, or the recorded page never had it: False); always True for terminate.
    """

    messages: list[dict[str, str]]
    text: str
    dropped_pages: list[int] = field(default_factory=list)
    target_kept: bool = True
    current_page_cut: bool = False
    dropped_actions: int = 0
    n_chars: int = 0
    n_tokens: int | None = None
    fits: bool = True


def count_tokens(tokenizer: Any, text: str) -> int:
    """Tokens of ``text`` without special tokens (HF ``PreTrainedTokenizer`` or ``tokenizers.Tokenizer``)."""
    return len(tokenizer.encode(text, add_special_tokens=False))


_Plan = tuple[int, int, str, bool]  # (first kept old page, folded action lines, current page html, cut?)


class _Budget:
    """A context limit and how to measure against it: characters, or exact tokens."""

    def __init__(self, max_chars: int | None, max_tokens: int | None, tokenizer: Any) -> None:
        for label, v in (("max_chars", max_chars), ("max_tokens", max_tokens)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise ValueError(f"{label} must be a positive int or None, got {v!r}")
        self.tokenizer = tokenizer if max_tokens is not None else None
        if self.tokenizer is not None:
            self.limit: int | None = max_tokens
        else:
            limits = [v for v in (max_chars, None if max_tokens is None else max_tokens * CHARS_PER_TOKEN)
                      if v is not None]
            self.limit = min(limits) if limits else None
        self.char_limit = max_chars if self.tokenizer is not None else None
        self._cache: dict[str, int] = {}

    @property
    def tokens(self) -> bool:
        return self.tokenizer is not None

    def clear(self) -> None:
        self._cache = {}

    def cost(self, piece: str) -> int:
        """Size of one piece (token counts are cached per piece)."""
        if self.tokenizer is None:
            return len(piece)
        n = self._cache.get(piece)
        if n is None:
            n = self._cache[piece] = count_tokens(self.tokenizer, piece)
        return n

    def measure(self, text: str) -> int:
        """Exact size of a final text."""
        return count_tokens(self.tokenizer, text) if self.tokenizer is not None else len(text)

    def over(self, text: str, size: int) -> int:
        """How far ``text`` is over the limit, in this budget's unit (0 if it fits).

        With a tokenizer and also ``max_chars``, both must hold; a character overshoot is
        converted to tokens with the text's own characters-per-token ratio.
        """
        over = max(0, size - self.limit) if self.limit is not None else 0
        if self.char_limit is not None and len(text) > self.char_limit:
            over = max(over, -(-(len(text) - self.char_limit) * size // max(len(text), 1)))
        return over


def _fit(render: Callable[[_Plan], tuple[Any, str]], budget: _Budget, html: str,
         extras: list[int], n_fold: int) -> tuple[Any, _Plan, int, bool]:
    """Choose the least truncation that fits: drop the oldest pages, then cut the current page,
    then fold the oldest action lines. ``extras[i]`` is what keeping old page ``i`` adds to the
    size (exact in characters, a sum-of-parts estimate in tokens; the final text is always
    measured exactly). Returns (rendered, plan, size, fits)."""
    n = len(extras)
    if budget.limit is None:
        result, text = render((0, 0, html, False))
        return result, (0, 0, html, False), len(text), True
    limit = budget.limit
    result, text = render((0, 0, html, False))
    size = budget.measure(text)
    if not budget.over(text, size):
        return result, (0, 0, html, False), size, True
    base = budget.measure(render((n, 0, html, False))[1])  # every old page omitted
    keep_from, total = n, base
    if base <= limit:
        for i in range(n - 1, -1, -1):  # keep the newest pages; the oldest go first
            if total + extras[i] > limit:
                break
            total += extras[i]
            keep_from = i
    nxt: _Plan = (keep_from, 0, html, False)
    for _ in range(n + n_fold + 64):
        plan = nxt
        result, text = render(plan)
        size = budget.measure(text)
        over = budget.over(text, size)
        if not over:
            return result, plan, size, True
        kf, folded, cur, cut = plan
        if kf < n:
            nxt = (kf + 1, folded, cur, cut)
        elif cur:
            drop = max(1, -(-over * len(text) // max(size, 1))) + (0 if cut else len(_PAGE_CUT))
            nxt = (kf, folded, _cut_html(cur, len(cur) - drop), True)
        elif folded < n_fold:
            nxt = (kf, folded + 1, cur, True)
        else:
            break
    return result, plan, size, False


PERSONA_BUDGET_SHARE = 0.25
"""Most of the context budget a persona may take; a longer one is cut (at a line end), so the
persona never crowds the current page (and its gold target) out of the prompt."""
_PERSONA_CUT = "(... persona cut to fit the context budget)"


def _persona_lines(value: Any, indent: str = "") -> list[str]:
    lines: list[str] = []
    for key, v in value.items():
        if _blank(v):
            continue
        if isinstance(v, dict):
            lines.append(f"{indent}{key}:")
            lines += _persona_lines(v, indent + "  ")
        elif isinstance(v, (list, tuple)):
            lines.append(f"{indent}{key}: " + ", ".join(str(x) for x in v if not _blank(x)))
        else:
            lines.append(f"{indent}{key}: " + " ".join(str(v).split()))
    return lines


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, (str, list, tuple, dict)) and not v)


def _persona_text(persona: Any) -> str:
    """A persona as readable ``key: value`` lines (nested sections indented); text as is."""
    if isinstance(persona, str):
        return persona.strip()
    if isinstance(persona, dict):
        return "\n".join(_persona_lines(persona))
    return str(persona).strip()


def _persona_cap(budget: "_Budget | None") -> int | None:
    """Characters the persona may take under ``budget`` (None: no limit)."""
    if budget is None or budget.limit is None:
        return None
    chars = budget.limit * CHARS_PER_TOKEN if budget.tokens else budget.limit
    if budget.char_limit is not None:
        chars = min(chars, budget.char_limit)
    return int(chars * PERSONA_BUDGET_SHARE)


def _persona_header(session: Session, include: bool, budget: "_Budget | None" = None) -> str:
    """The persona block of the prompt, at most ``PERSONA_BUDGET_SHARE`` of the budget."""
    if not include or not session.persona:
        return ""
    text = _persona_text(session.persona)
    cap = _persona_cap(budget)
    if cap is not None and len(text) > cap:
        keep = max(0, cap - len(_PERSONA_CUT) - 1)
        head = text[:keep]
        text = (head[:head.rfind("\n")] if "\n" in head else head) + "\n" + _PERSONA_CUT
    return f"Shopper persona:\n{text}\n\n" if text.strip() else ""


def _page_header(i: int, url: str | None, current: bool) -> str:
    label = f"[Page {i + 1}{', current' if current else ''}]"
    return f"{label} {url}\n" if url else f"{label}\n"


def _cut_html(html: str, keep: int) -> str:
    """The first ``keep`` characters of ``html``, ended after the last complete tag if there is one."""
    if keep <= 0:
        return ""
    head = html[:keep]
    end = head.rfind(">")
    return head[:end + 1] if end > 0 else head


def _target_kept(session: Session, k: int, cur_html: str, cut: bool) -> bool:
    """True when the gold target's ``name="..."`` is in the current page as served (or there is no target)."""
    gold = session.steps[k].action
    return not gold.name or f'name="{gold.name}"' in cur_html


def load_tokenizer(tokenizer: Any) -> Any:
    """A Hugging Face tokenizer as given, or loaded from a local path (``str``/``PathLike``)."""
    if isinstance(tokenizer, (str, os.PathLike)):
        from transformers import AutoTokenizer
        return AutoTokenizer.from_pretrained(os.fspath(tokenizer))
    return tokenizer


class PromptBuilder:
    """Builds prompts for the steps of sessions, caching per-session page blocks and sizes.

    Reusing one builder for consecutive steps of the same :class:`Session` object makes
    each step cost O(pages so far) plus one string join (plus, with ``max_tokens`` and a
    tokenizer, one tokenizer call on the final text; page sizes are counted once per session).
    ``tokenizer`` is a Hugging Face tokenizer or a local path to load one from.
    """

    def __init__(self, *, context: str = "whole_session", max_chars: int | None = None,
                 max_tokens: int | None = None, tokenizer: Any = None, include_persona: bool = True) -> None:
        if context not in CONTEXT_MODES:
            raise ValueError(f"context must be one of {CONTEXT_MODES}, got {context!r}")
        self.context = context
        self.include_persona = bool(include_persona)
        self.budget = _Budget(max_chars, max_tokens, load_tokenizer(tokenizer))
        self._session: Session | None = None
        self._blocks: list[tuple[str, str, str]] = []  # (page block, omitted block, action line)
        self._header = ""

    def _load(self, session: Session) -> None:
        if session is self._session:
            return
        self._session = session
        self._blocks = []
        self.budget.clear()
        intro = "Session so far (oldest first):\n" if self.context == "whole_session" else "Actions so far:\n"
        self._header = _persona_header(session, self.include_persona, self.budget) + intro

    def _block(self, i: int) -> tuple[str, str, str]:
        while len(self._blocks) <= i:
            j = len(self._blocks)
            step = self._session.steps[j]  # type: ignore[union-attr]
            head = _page_header(j, step.url, current=False)
            self._blocks.append((head + step.page_html + "\n", head + _OMITTED,
                                 f"[Action {j + 1}] {step.action.describe()}\n"))
        return self._blocks[i]

    def _user(self, k: int, plan: _Plan) -> str:
        keep_from, folded, cur, cut = plan
        whole = self.context == "whole_session"
        pieces = [self._header]
        if folded:
            what = "Steps" if whole else "Actions"
            pieces.append(f"[{what} 1-{folded} omitted to fit the context budget]\n")
        for i in range(folded, k):
            page, omitted, action = self._blocks[i]
            if whole:
                pieces.append(page if i >= keep_from else omitted)
            pieces.append(action)
        if k == 0 and not whole:
            pieces.append("(none yet)\n")
        step = self._session.steps[k]  # type: ignore[union-attr]
        pieces.append("\n" + _page_header(k, step.url, current=True) + cur + (_PAGE_CUT if cut else "\n"))
        pieces.append("\n" + _INSTRUCTION)
        return "".join(pieces)

    def build(self, session: Session, step_index: int) -> Prompt:
        """The prompt that asks for action ``step_index`` (0-based) of ``session``."""
        n = len(session.steps)
        if not isinstance(step_index, int) or not 0 <= step_index < n:
            raise IndexError(f"step_index {step_index!r} out of range for session {session.session_id!r} "
                             f"with {n} steps")
        self._load(session)
        k = step_index
        if k:
            self._block(k - 1)
        html = session.steps[k].page_html

        def render(plan: _Plan) -> tuple[str, str]:
            user = self._user(k, plan)
            return user, SYSTEM_PROMPT + _SEP + user

        whole = self.context == "whole_session"
        b = self.budget
        extras = ([b.cost(blk[0]) - b.cost(blk[1]) for blk in self._blocks[:k]]
                  if whole and b.limit is not None else [])
        user, plan, size, fits = _fit(render, b, html, extras, n_fold=k)
        keep_from, folded, cur, cut = plan
        text = SYSTEM_PROMPT + _SEP + user
        return Prompt(messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
                      text=text, dropped_pages=list(range(keep_from)) if whole else [],
                      target_kept=_target_kept(session, k, cur, cut), current_page_cut=cut,
                      dropped_actions=folded, n_chars=len(text), n_tokens=size if b.tokens else None, fits=fits)


def build_prompt(session: Session, step_index: int, *, context: str = "whole_session",
                 max_chars: int | None = None, max_tokens: int | None = None, tokenizer: Any = None,
                 include_persona: bool = True) -> Prompt:
    """The prompt asking for action ``step_index`` (0-based) of ``session``; see the module doc."""
    return PromptBuilder(context=context, max_chars=max_chars, max_tokens=max_tokens, tokenizer=tokenizer,
                         include_persona=include_persona).build(session, step_index)
