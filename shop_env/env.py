"""``ShopSessionEnv``: the Gymnasium environment ``ShopR1-v0`` that replays recorded sessions.

One episode is one recorded session. The observation is the prompt text for the LLM
(:mod:`shop_env.prompts`); the action is the model's output text. ``step`` parses and
scores the text against the recorded action with :mod:`shop_env.reward`, then moves to
the page the human saw next whatever the action was (teacher forcing, SPEC). The episode
terminates at the session's end, or (``replay="until_mismatch"``) at the first action
that is not an exact match.

Spaces: both are :class:`UnicodeText`, a :class:`gymnasium.spaces.Text` whose members
are *all* Unicode strings up to ``max_length`` (pages hold any character, emoji
included; a plain ``Text`` only holds strings over its finite ``charset``).
``sample()`` draws from a small mixed ASCII/Unicode charset (random strings for fuzzing).

Vector envs: :func:`make_vector_env` uses same-step autoreset (``AutoresetMode.SAME_STEP``):
a finished session's last step is scored and the next session starts in the same call, so
every recorded step is scored exactly once and no action is ignored (gymnasium's default,
``NEXT_STEP``, spends one extra call per episode on a reset that ignores its action and
returns reward 0). The last step's observation and info are then in ``info["final_obs"]``
and ``info["final_info"]``. ``SyncVectorEnv`` works as is. ``AsyncVectorEnv`` needs
``shared_memory=False``: gymnasium's shared memory for ``Text`` is a fixed int32 buffer of
``max_length`` characters per env that keeps only charset characters, which cannot hold
prompts of up to tens of millions of arbitrary characters. :func:`make_vector_env` sets it;
with gymnasium's own helper: ``gym.make_vec("ShopR1-v0", num_envs=4,
vectorization_mode="async", vector_kwargs={"shared_memory": False,
"autoreset_mode": AutoresetMode.SAME_STEP})``.

Actions: ``step`` takes the model's output text (any ``str``, never an error: malformed
text is scored with format reward 0). For code that builds actions directly it also takes
a :class:`~shop_env.actions.Action` or a plain dict, scored exactly as their canonical
JSON with an empty rationale (``format_model_output("", action)``); a dict holding the
whole output (keys ``rationale`` and ``action``) is scored as its JSON. Anything else
raises ``TypeError``. Outputs longer than :data:`ACTION_MAX_LENGTH` (=
:data:`shop_env.actions.MAX_OUTPUT_CHARS`, 65,536 characters) are not parsed and score 0.

Info keys. ``reset`` and ``step`` both describe the observation they return:

=================  ==========================  ============================================
key                type                        meaning
=================  ==========================  ============================================
messages           list[dict[str, str]]        [system, user] chat turns of the prompt
                                               (``[]`` once the episode is over)
session_id         str                         the replayed session
step_index         int                         0-based step whose page is shown
                                               (``n_steps`` once the episode is over)
n_steps            int                         steps in the session
url                str | None                  the shown page's URL (``None`` at the end)
elements           Sequence[Element]           the page's named elements (a lazy
                                               :class:`PageElements`; ``[]`` at the end or
                                               with ``elements=False``)
target_kept        bool                        the budget kept the current page
dropped_pages      list[int]                   pages the budget dropped
history            tuple[Action, ...]          recorded actions of the earlier steps,
                                               oldest first
persona            dict[str, Any]              the shopper's persona (``{"description":
                                               text}`` for a text persona; ``{}`` when there
                                               is none or ``include_persona=False``)
=================  ==========================  ============================================

``step`` adds, for the step just scored:

=================  ==========================  ============================================
scored_step_index  int                         index of the scored step
gold               dict[str, str]              the recorded action (canonical dict)
reward             dict[str, float]            the reward breakdown (``total`` = reward)
parsed             dict[str, Any]              ``{"rationale", "action"}`` of a well-formed
                                               output, ``{}`` when it does not parse
parse_error        str | None                  why the output does not parse
exact_match        bool                        type and attributes match the recorded action
type_match         bool                        the action type matches
=================  ==========================  ============================================

Each key keeps one type (a dict stays a dict, even empty) because gymnasium's vector envs
merge infos per key and fail on a mix of ``None`` and dicts.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode

from shop_env.actions import MAX_OUTPUT_CHARS, Action, format_model_output
from shop_env.data.model import Session
from shop_env.data.store import SessionStore, resolve_store
from shop_env.errors import DataError
from shop_env.html import Element, named_elements
from shop_env.paths import sample_data_dir
from shop_env.prompts import CONTEXT_MODES, PromptBuilder
from shop_env.reward import RewardBreakdown, RewardConfig, score_output

__all__ = ["ShopSessionEnv", "UnicodeText", "PageElements", "REPLAY_MODES", "OBS_MAX_LENGTH", "ACTION_MAX_LENGTH",
           "make_vector_env", "unbatch_infos"]

REPLAY_MODES: tuple[str, ...] = ("teacher_forcing", "until_mismatch")
OBS_MAX_LENGTH = 1 << 26
"""Longest observation in the space (67M characters: ~100 pages of 600k characters)."""
ACTION_MAX_LENGTH = MAX_OUTPUT_CHARS
"""Longest action text in the space, the parser's limit (65,536 characters): a longer
output is still accepted by ``step`` but not parsed, so it scores 0."""
_SAMPLE_CHARSET = ("".join(chr(c) for c in range(0x20, 0x7F)) + "\n\t"
                   + "éüñßçøÅ€£¥©®™°±×÷–—‘’“”…•中文字ひらがな한국어Ωπ😀🛒")
_REPLAY_OPTIONS = frozenset({"session_id", "session_index", "step"})
_BREAKDOWN_FIELDS = tuple(f.name for f in dataclasses.fields(RewardBreakdown))


class UnicodeText(gym.spaces.Text):
    """A ``Text`` space of every Unicode string of ``min_length..max_length`` characters.

    ``contains`` checks only the type and the length. ``sample`` draws characters from
    ``charset`` and, unless the mask gives a length, a length of at most ``sample_max_length``
    (4096) so that sampling a 67M-character observation space stays cheap.
    """

    def __init__(self, max_length: int, *, min_length: int = 0, charset: str = _SAMPLE_CHARSET,
                 seed: int | None = None, sample_max_length: int = 4096) -> None:
        super().__init__(max_length, min_length=min_length, charset=charset, seed=seed)
        self.sample_max_length = max(min_length, min(max_length, sample_max_length))

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if (mask is None or mask[0] is None) and (probability is None or probability[0] is None):
            length = int(self.np_random.integers(self.min_length, self.sample_max_length + 1))
            if mask is not None:
                mask = (length, mask[1])
            elif probability is not None:
                probability = (length, probability[1])
            else:
                mask = (length, None)
        return super().sample(mask=mask, probability=probability)

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"


class PageElements(Sequence[Element]):
    """The named elements of one page (any tag: ``named_elements(..., any_tag=True)``), read from
    its HTML on first use (then cached).

    A read-only sequence of :class:`~shop_env.html.Element` (``len``, iteration, indexing,
    ``==`` with lists and tuples); ``list(...)`` gives a plain list. Reading the elements is
    most of a step's cost on real pages, so steps whose consumer never looks at them (an
    LLM reading the prompt) do not pay for it. Pickles with the page (or the parsed list).
    """

    __slots__ = ("_html", "_items")

    def __init__(self, html: str, items: Sequence[Element] | None = None) -> None:
        self._html = html
        self._items = None if items is None else tuple(items)

    @property
    def items(self) -> tuple[Element, ...]:
        """The elements, in document order (parsed now if not yet)."""
        if self._items is None:
            self._items = tuple(named_elements(self._html, any_tag=True))
            self._html = ""
        return self._items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):  # type: ignore[override]
        return self.items[i]

    def __iter__(self):
        return iter(self.items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PageElements):
            return self.items == other.items
        if isinstance(other, (list, tuple)):
            return self.items == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):
        return (PageElements, (self._html, self._items))

    def __repr__(self) -> str:
        return f"PageElements({self.items!r})"


def as_output_text(action: Any) -> str:
    """The output text ``step`` scores for ``action`` (see the module docstring)."""
    if isinstance(action, str):
        return action
    if isinstance(action, Action):
        return format_model_output("", action)
    if isinstance(action, Mapping):
        doc = dict(action)
        if set(doc) != {"rationale", "action"}:
            try:  # an action dict is scored as its canonical form (e.g. "text": None dropped)
                return format_model_output("", Action.from_dict(doc))
            except (KeyError, TypeError, ValueError):
                doc = {"rationale": "", "action": doc}  # scored as given: format reward 0
        try:
            return json.dumps(doc, ensure_ascii=False)
        except (TypeError, ValueError) as e:
            raise TypeError(f"action dict is not JSON-serialisable: {e}") from None
    raise TypeError("step() takes the model's output text (str), a shop_env.Action or an action dict "
                    f"like {{'type': 'click', 'name': ...}}; got {type(action).__name__}")


class PromptEnv(gym.Env[str, str]):
    """What the replay and closed-loop environments share: text spaces, the prompt builder
    and the reward configuration, set and checked by :meth:`_setup_prompting`."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def _setup_prompting(self, *, context: str, max_chars: int | None, max_tokens: int | None, tokenizer: Any,
                         reward_config: RewardConfig | None, include_persona: bool, render_mode: str | None,
                         elements: bool) -> None:
        if context not in CONTEXT_MODES:
            raise ValueError(f"context must be one of {CONTEXT_MODES}, got {context!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, "
                             f"got {render_mode!r}")
        if reward_config is not None and not isinstance(reward_config, RewardConfig):
            raise TypeError(f"reward_config must be a RewardConfig, got {type(reward_config).__name__}")
        self.context = context
        self.include_persona = bool(include_persona)
        self.render_mode = render_mode
        self.with_elements = bool(elements)
        self.reward_config = reward_config or RewardConfig()
        self._builder = PromptBuilder(context=context, max_chars=max_chars, max_tokens=max_tokens,
                                      tokenizer=tokenizer, include_persona=include_persona)
        self.observation_space = UnicodeText(OBS_MAX_LENGTH)
        self.action_space = UnicodeText(ACTION_MAX_LENGTH)


class ShopSessionEnv(PromptEnv):
    """Replays recorded shopping sessions; observation = prompt text, action = model output text.

    Args:
        data_path: a store folder (with ``train/``/``test/`` sub-stores or one store), or an
            open :class:`SessionStore` (used as is). Default: the embedded sample.
        split: ``"train"``, ``"test"`` or ``"all"`` (ignored for an open store).
        context: ``"whole_session"`` (default) or ``"latest_step"``.
        max_chars / max_tokens / tokenizer: context budget (:mod:`shop_env.prompts`);
            ``tokenizer`` may be a Hugging Face tokenizer or a local path to load one from.
        reward_config: a :class:`RewardConfig` (default: the paper's Shop-R1 setting).
        replay: ``"teacher_forcing"`` (default) or ``"until_mismatch"``.
        include_persona: show the shopper's persona when the data has one.
        render_mode: ``None`` or ``"ansi"``.
        elements: put the page's named elements in ``info["elements"]`` (default; a lazy
            :class:`PageElements`, read on first use). ``False`` gives ``[]``.
    """

    def __init__(self, data_path: str | os.PathLike | SessionStore | None = None, split: str = "train", *,
                 context: str = "whole_session", max_chars: int | None = None, max_tokens: int | None = None,
                 tokenizer: Any = None, reward_config: RewardConfig | None = None,
                 replay: str = "teacher_forcing", include_persona: bool = True,
                 render_mode: str | None = None, elements: bool = True) -> None:
        if replay not in REPLAY_MODES:
            raise ValueError(f"replay must be one of {REPLAY_MODES}, got {replay!r}")
        self._setup_prompting(context=context, max_chars=max_chars, max_tokens=max_tokens, tokenizer=tokenizer,
                              reward_config=reward_config, include_persona=include_persona,
                              render_mode=render_mode, elements=elements)
        self.store = resolve_store(sample_data_dir() if data_path is None else data_path, split=split)
        if len(self.store) == 0:
            raise DataError(f"no sessions in split {split!r}", path=self.store.path)
        self.replay = replay
        self._session: Session | None = None
        self._session_index = -1
        self._k = 0
        self._done = True
        self._elements: dict[int, PageElements] = {}
        self._last: dict[str, Any] = {}

    # -- episode control ----------------------------------------------------------------
    def _pick(self, options: dict[str, Any]) -> int:
        unknown = set(options) - _REPLAY_OPTIONS
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; allowed: {sorted(_REPLAY_OPTIONS)}")
        if options.get("session_id") is not None:
            return self.store.index_of(str(options["session_id"]))
        if options.get("session_index") is not None:
            i = int(options["session_index"])
            if not 0 <= i < len(self.store):
                raise ValueError(f"session_index {i} out of range for {len(self.store)} sessions")
            return i
        n = len(self.store)
        start = int(self.np_random.integers(n))
        for j in range(n):  # skip sessions without steps, deterministically
            i = (start + j) % n
            if self.store.n_steps(i) > 0:
                return i
        raise DataError("every session in the store is empty", path=self.store.path)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode on a session chosen by the seeded generator, or by ``options``:
        ``{"session_id": str}`` or ``{"session_index": int}``, and ``{"step": int}`` to start later."""
        super().reset(seed=seed)
        options = dict(options or {})
        i = self._pick(options)
        if i != self._session_index or self._session is None:
            self._session = self.store[i]
            self._session_index = i
            self._elements = {}
        n = len(self._session.steps)
        k = int(options.get("step") or 0)
        if not 0 <= k < n:
            raise ValueError(f"step {k} out of range for session {self._session.session_id!r} with {n} steps")
        self._k = k
        self._done = False
        self._last = {}
        return self._observe()

    def _page_elements(self, k: int) -> PageElements | list[Element]:
        if not self.with_elements:
            return []
        els = self._elements.get(k)
        if els is None:  # one lazy reader per page per loaded session; read at most once
            els = self._elements[k] = PageElements(self._session.steps[k].page_html)  # type: ignore[union-attr]
        return els

    def _observe(self) -> tuple[str, dict[str, Any]]:
        s = self._session
        assert s is not None
        k, n = self._k, len(s.steps)
        if self._done:
            return "", {"messages": [], "session_id": s.session_id, "step_index": k, "n_steps": n, "url": None,
                        "elements": [], "target_kept": True, "dropped_pages": [],
                        "history": self._history(n), "persona": self._persona()}
        p = self._builder.build(s, k)
        return p.text, {"messages": p.messages, "session_id": s.session_id, "step_index": k, "n_steps": n,
                        "url": s.steps[k].url, "elements": self._page_elements(k),
                        "target_kept": p.target_kept, "dropped_pages": p.dropped_pages,
                        "history": self._history(k), "persona": self._persona()}

    def _history(self, k: int) -> tuple[Action, ...]:
        """The recorded actions before step ``k`` (what the prompt's action history shows),
        as fresh copies: gymnasium requires that infos of two calls share no object."""
        assert self._session is not None
        return tuple(dataclasses.replace(step.action) for step in self._session.steps[:k])

    def _persona(self) -> dict[str, Any]:
        """The session's persona as a dict (``{"description": text}`` for a text persona;
        ``{}`` when there is none or ``include_persona=False``)."""
        persona = self._session.persona if self._session is not None and self.include_persona else None
        if not persona:
            return {}
        return copy.deepcopy(persona) if isinstance(persona, dict) else {"description": str(persona)}

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Score ``action`` and move to the next recorded page.

        ``action`` is the model's output text (any ``str``; never an error: malformed text
        scores format 0), or a :class:`~shop_env.actions.Action` or dict, scored as its
        canonical JSON with an empty rationale. Other types raise ``TypeError``.
        """
        if self._done or self._session is None:
            raise ResetNeeded("call reset() before step(): the episode has ended or not started")
        text = as_output_text(action)
        s, k = self._session, self._k
        gold = s.steps[k].action
        score = score_output(text, gold, self.reward_config)
        parsed, breakdown, pred, exact = score.parsed, score.reward, score.action, score.exact_match
        self._k = k + 1
        terminated = self._k >= len(s.steps) or (self.replay == "until_mismatch" and not exact)
        self._done = terminated
        obs, info = self._observe()
        info.update(
            scored_step_index=k, gold=gold.to_dict(), reward={f: getattr(breakdown, f) for f in _BREAKDOWN_FIELDS},
            parsed={} if pred is None else {"rationale": parsed.rationale, "action": pred.to_dict()},
            parse_error=parsed.error, exact_match=exact,
            type_match=score.type_match,
        )
        self._last = {"k": k, "output": text, "info": info}
        return obs, float(breakdown.total), bool(terminated), False, info

    def render(self) -> str | None:
        """``"ansi"``: a short text summary of the episode's position and the last scored step."""
        if self.render_mode != "ansi":
            return None
        s = self._session
        if s is None:
            return "ShopSessionEnv: not reset\n"
        n = len(s.steps)
        lines = [f"session {s.session_id}  step {min(self._k + 1, n)}/{n}"
                 + ("  (episode over)" if self._done else f"  {s.steps[self._k].url or ''}")]
        if self._last:
            info = self._last["info"]
            out = self._last["output"]
            lines.append(f"  step {self._last['k'] + 1}: output {out[:120]!r}{'...' if len(out) > 120 else ''}")
            lines.append(f"    gold {info['gold']}  reward {info['reward']['total']:.3f}  "
                         f"exact {info['exact_match']}  type {info['type_match']}"
                         + (f"  parse error: {info['parse_error']}" if info["parse_error"] else ""))
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        """Close the store's file handle (safe to call twice)."""
        self.store.close()


def make_vector_env(num_envs: int, *, asynchronous: bool = True,
                    autoreset_mode: AutoresetMode = AutoresetMode.SAME_STEP, **env_kwargs: Any) -> gym.vector.VectorEnv:
    """``num_envs`` copies of :class:`ShopSessionEnv` in an ``AsyncVectorEnv`` (with
    ``shared_memory=False``, required for text observations) or a ``SyncVectorEnv``.

    Same-step autoreset by default: each recorded step is scored once and every action
    sent is scored (the finished session's last observation/info are in ``info["final_obs"]``
    / ``info["final_info"]``). ``autoreset_mode=AutoresetMode.NEXT_STEP`` restores
    gymnasium's default, where the call after an episode's end resets, ignores its action
    and returns reward 0.
    """
    fns: Sequence[Any] = [functools.partial(ShopSessionEnv, **env_kwargs) for _ in range(num_envs)]
    if asynchronous:
        return gym.vector.AsyncVectorEnv(fns, shared_memory=False, autoreset_mode=autoreset_mode)
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=autoreset_mode)


def unbatch_infos(info: Mapping[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """One info dict per environment from a vector env's batched ``info``, for a
    :class:`~shop_env.policy.Policy`'s ``act(observations, infos)``.

    Gymnasium batches each key into an array with a ``_key`` mask of the environments that
    set it, and a dict value (``persona``, ``final_info``) into a dict batched the same way,
    recursively; this undoes both, so each environment gets what it would return alone.
    """
    return [_info_of(info, i) for i in range(num_envs)]


def _info_of(info: Mapping[str, Any], i: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key.startswith("_"):
            continue
        mask = info.get(f"_{key}")
        if mask is not None and not mask[i]:
            continue
        out[key] = _info_of(value, i) if isinstance(value, Mapping) else value[i]
    return out
