"""Stable-Baselines3 adapter: a ``gymnasium.Wrapper`` that turns the text environment into
Discrete candidate slots with action masks and a Box of features.

:class:`ShopSB3Env` wraps :class:`shop_env.env.ShopSessionEnv` and reads only the
structured data the environment puts in ``info``: ``elements`` (the page's named
elements), ``history`` (the earlier recorded actions as :class:`~shop_env.actions.Action`
objects), ``persona`` (a dict) and ``url``. It parses no prompt text, so a change to the
prompt format cannot break it.

At every step the current page offers *candidate actions* (:func:`candidate_actions`):
``terminate``, ``type_and_submit`` into the page's inputs with candidate queries (texts
typed earlier in the session, short phrases of the persona, the inputs' current text and
short element texts of the page), and a ``click`` on every named clickable element. The
action space is ``Discrete(max_candidates)``; each candidate sits in a slot whose meaning is
stable across pages (slot 0 terminate, fixed sub-slots per input and query source, and
clicks hashed by element role and rank, e.g. "the 2nd ``search_results.*.product_title``"),
so a policy can learn what a slot means. :meth:`ShopSB3Env.action_masks` marks the slots
that hold a candidate (for sb3-contrib's ``MaskablePPO``). The observation is a ``Box``
laid out as :class:`FeatureConfig` names it: hashed page tokens, then history and persona
features (:data:`HISTORY_LAYOUT`), then the mask. The chosen candidate becomes the
model-output JSON and goes to the wrapped environment's ``step``, so the reward is the
Shop-R1 reward (times ``reward_scale``; the unscaled value is ``info["shop_r1_reward"]``).

Features and candidates depend on ``info`` alone, so a trained model also runs as a
:class:`shop_env.policy.Policy` (:class:`SB3Policy`) in the evaluation harness. Training
needs ``pip install 'shop-r1[sb3]'``; the wrapper itself needs only gymnasium and numpy.
"""
from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np

from shop_env.actions import CLICK, TERMINATE, TYPE_AND_SUBMIT, Action, format_model_output
from shop_env.integrations._optional import require

__all__ = ["HISTORY_LAYOUT", "Candidate", "FeatureConfig", "Featurizer", "SB3Policy", "ShopSB3Env",
           "candidate_actions", "train_maskable_ppo"]

_WORDS = re.compile(r"[a-z0-9]+")
_RATIONALE = {TERMINATE: "I have seen enough and want to leave.", CLICK: "I want to look at this.",
              TYPE_AND_SUBMIT: "I want to search for this."}
_ACTION_TYPES = ("none", CLICK, TYPE_AND_SUBMIT, TERMINATE)


@dataclass(frozen=True)
class HistoryLayout:
    """Offsets of the features inside the history block of the observation."""

    last_action_type: int = 0  # one-hot over ("none", click, type_and_submit, terminate): 4 slots
    n_actions: int = 4         # earlier actions / 20, capped at 1
    n_clicks: int = 5          # earlier clicks / 10, capped at 1
    n_searches: int = 6        # earlier type_and_submit / 5, capped at 1
    hashed_tokens: int = 8     # from here to the block's end: hashed tokens of the last two
                               # actions and of categorical persona fields


HISTORY_LAYOUT = HistoryLayout()


@dataclass(frozen=True)
class FeatureConfig:
    """Sizes of the action slots and of the hashed feature blocks.

    Query slots per input: ``history_queries`` texts typed earlier (most recent first),
    ``persona_queries`` short phrases of the persona, ``page_queries`` from the page (the
    input's ``value``, then short element texts).
    """

    max_candidates: int = 256    # Discrete action space size; unused slots are masked
    max_inputs: int = 2          # inputs that get type_and_submit candidates
    history_queries: int = 2
    persona_queries: int = 3
    page_queries: int = 2
    page_dim: int = 128          # hashed bag of the current page's URL and element-name tokens
    history_dim: int = 64        # last actions, persona tokens, step/type counters

    @property
    def queries_per_input(self) -> int:
        return self.history_queries + self.persona_queries + self.page_queries

    @property
    def first_click_slot(self) -> int:
        return 1 + self.max_inputs * self.queries_per_input

    @property
    def page_offset(self) -> int:
        """Where the hashed page tokens (url words, element-role segments, kinds) start."""
        return 0

    @property
    def history_offset(self) -> int:
        """Where the history and persona block (:data:`HISTORY_LAYOUT`) starts."""
        return self.page_dim

    @property
    def mask_offset(self) -> int:
        """Where the copy of the action mask starts (``max_candidates`` entries)."""
        return self.page_dim + self.history_dim

    @property
    def dim(self) -> int:
        return self.mask_offset + self.max_candidates

    def __post_init__(self) -> None:
        if self.max_candidates <= self.first_click_slot:
            raise ValueError("max_candidates must leave room for click slots after the type_and_submit slots")
        if self.history_dim <= HISTORY_LAYOUT.hashed_tokens:
            raise ValueError(f"history_dim must exceed {HISTORY_LAYOUT.hashed_tokens} (the fixed history features)")


@dataclass(frozen=True)
class Candidate:
    """One selectable action and where its text came from (``history``/``persona``/``page``)."""

    action: Action
    source: str = ""

    def output_text(self) -> str:
        """The model-output JSON this candidate stands for."""
        return format_model_output(_RATIONALE[self.action.type], self.action)


def _h(token: str) -> int:
    return zlib.crc32(token.encode("utf-8"))


def _add(vec: np.ndarray, offset: int, dim: int, tokens: Sequence[str]) -> None:
    for t in tokens:
        vec[offset + _h(t) % dim] += 1.0


def _persona_phrases(persona: Any, max_words: int = 5) -> list[str]:
    """Short string values of a JSON persona, depth first in key order (e.g. the product it needs)."""
    out: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, str):
            if 1 <= len(x.split()) <= max_words:
                out.append(x)
        elif isinstance(x, dict):
            for k in sorted(x):
                walk(x[k])
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(persona)
    return out


def _elements(info: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(name, kind, text)`` of the page's named elements (``Element`` records or dicts)."""
    out = []
    for el in info.get("elements") or ():
        if isinstance(el, dict):
            name, kind, text = el.get("name"), el.get("kind"), el.get("text")
        else:
            name, kind, text = getattr(el, "name", ""), getattr(el, "kind", ""), getattr(el, "text", "")
        if name:
            out.append((str(name), str(kind or CLICK), str(text or "")))
    return out


def _history(info: Mapping[str, Any]) -> list[Action]:
    """The earlier recorded actions (``info["history"]``: Action objects or their dicts)."""
    return [a if isinstance(a, Action) else Action.from_dict(a) for a in info.get("history") or ()]


def _role(name: str) -> str:
    """The element's role without item-specific middle segments: ``search_results.<slug>.product_title``
    -> ``search_results.product_title``."""
    parts = name.split(".")
    return parts[0] if len(parts) == 1 else f"{parts[0]}.{parts[-1]}"


def candidate_actions(info: Mapping[str, Any], config: FeatureConfig = FeatureConfig(), *,
                      _read: tuple[list[Action], list[tuple[str, str, str]]] | None = None
                      ) -> dict[int, Candidate]:
    """The current page's candidate actions by slot (the Discrete action index), from
    ``info["elements"]``, ``info["history"]`` and ``info["persona"]``.

    Slots have stable meanings across pages, so a policy can learn them: slot 0 is
    ``terminate``; then, for each of the first ``max_inputs`` inputs, fixed sub-slots of
    query sources (texts typed earlier, most recent first; persona phrases; the inputs'
    current text and short element texts of the page); then clicks, each placed at a slot
    chosen by a stable hash of its role and its rank among same-role elements (linear
    probing on collisions; clicks beyond the free slots are dropped). Deterministic.
    """
    c = config
    history, elements = _read or (_history(info), _elements(info))
    out: dict[int, Candidate] = {0: Candidate(Action(TERMINATE))}
    seen: set[str] = set()

    def pick(texts: Sequence[str], quota: int) -> list[str]:
        got = []
        for q in texts:
            q = " ".join(q.split()).lower()
            if q and q not in seen and len(got) < quota:
                seen.add(q)
                got.append(q)
        return got + [""] * (quota - len(got))

    typed = [a.text for a in reversed(history) if a.type == TYPE_AND_SUBMIT and a.text]
    page_texts = [t for _, k, t in elements if k == "input"] + \
        [t for _, k, t in elements if k != "input" and 1 <= len(t.split()) <= 4]
    queries = (list(zip(pick(typed, c.history_queries), ["history"] * c.history_queries))
               + list(zip(pick(_persona_phrases(info.get("persona")), c.persona_queries),
                          ["persona"] * c.persona_queries))
               + list(zip(pick(page_texts, c.page_queries), ["page"] * c.page_queries)))
    inputs = [name for name, kind, _ in elements if kind == "input"][: c.max_inputs]
    for i, name in enumerate(inputs):
        for j, (q, src) in enumerate(queries):
            if q:
                out[1 + i * c.queries_per_input + j] = Candidate(Action(TYPE_AND_SUBMIT, name, q), src)
    n_click = c.max_candidates - c.first_click_slot
    ranks: dict[str, int] = {}
    placed = 0
    for name, kind, _ in elements:
        if kind == "input" or placed >= n_click:
            continue
        placed += 1
        role = _role(name)
        rank = ranks.get(role, 0)
        ranks[role] = rank + 1
        slot = _h(f"{role}#{rank}") % n_click
        while c.first_click_slot + slot in out:
            slot = (slot + 1) % n_click
        out[c.first_click_slot + slot] = Candidate(Action(CLICK, name))
    return out


def _persona_tokens(persona: Any) -> list[str]:
    """Categorical persona fields as tokens, numbers in [0, 1] in five buckets."""
    tokens = []
    if isinstance(persona, dict):
        for k, v in sorted(persona.items()):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                tokens.append(f"p:{k}:{int(min(max(float(v), 0.0), 1.0) * 4.999)}" if v <= 1 else f"p:{k}:big")
            elif isinstance(v, str) and len(v.split()) <= 3:
                tokens.append(f"p:{k}:{v}")
    return tokens


class Featurizer:
    """``info`` -> (feature vector, candidates by slot, action mask).

    Results are memoised by what they depend on besides the page (session id, step index,
    url, history, persona): under teacher forcing a replayed step always shows the same
    page, so later epochs are free. Use one Featurizer per data set.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig(), cache_size: int = 100_000) -> None:
        self.config = config
        self.cache_size = cache_size
        self._cache: dict[tuple[Any, ...], tuple[np.ndarray, dict[int, Candidate], np.ndarray]] = {}

    def __call__(self, info: Mapping[str, Any]) -> tuple[np.ndarray, dict[int, Candidate], np.ndarray]:
        key = (info.get("session_id"), info.get("step_index"), info.get("url"),
               tuple(_history(info)), json.dumps(info.get("persona"), sort_keys=True, default=str))
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            hit = self._cache[key] = self._compute(info)
        vec, cands, mask = hit
        return vec.copy(), dict(cands), mask.copy()

    def _compute(self, info: Mapping[str, Any]) -> tuple[np.ndarray, dict[int, Candidate], np.ndarray]:
        c, lay = self.config, HISTORY_LAYOUT
        vec = np.zeros(c.dim, dtype=np.float32)
        history, elements = _history(info), _elements(info)
        page_tokens = ["u:" + t for t in _WORDS.findall(str(info.get("url") or "").lower())]
        for name, kind, _ in elements:
            page_tokens += ["n:" + s for s in _role(name).split(".")] + ["k:" + kind]
        page = slice(c.page_offset, c.page_offset + c.page_dim)
        _add(vec, c.page_offset, c.page_dim, page_tokens)
        np.log1p(vec[page], out=vec[page])
        h0 = c.history_offset
        last = history[-1].type if history else "none"
        vec[h0 + lay.last_action_type + _ACTION_TYPES.index(last)] = 1.0
        vec[h0 + lay.n_actions] = min(len(history), 20) / 20.0
        vec[h0 + lay.n_clicks] = min(sum(a.type == CLICK for a in history), 10) / 10.0
        vec[h0 + lay.n_searches] = min(sum(a.type == TYPE_AND_SUBMIT for a in history), 5) / 5.0
        tokens = []
        for back, a in enumerate(reversed(history[-2:])):
            tokens += [f"{back}:t:{a.type}"] + [f"{back}:n:{s}" for s in _role(a.name).split(".") if a.name]
        tokens += _persona_tokens(info.get("persona"))
        _add(vec, h0 + lay.hashed_tokens, c.history_dim - lay.hashed_tokens, tokens)
        cands = candidate_actions(info, c, _read=(history, elements))
        mask = np.zeros(c.max_candidates, dtype=bool)
        mask[list(cands)] = True
        vec[c.mask_offset:] = mask
        return vec, cands, mask


class ShopSB3Env(gym.Wrapper):
    """SB3-ready wrapper of :class:`~shop_env.env.ShopSessionEnv`: Discrete candidate slots,
    Box features, action masks.

    ``env`` is a ready ShopSessionEnv (its ``info`` must carry ``elements``: the default),
    or ``None`` to build one from ``env_kwargs`` (e.g. ``store=..., context="latest_step"``).
    ``reward_scale`` multiplies the Shop-R1 reward (DARS makes it ~1000 for a correct click;
    1e-3 keeps PPO's value loss sane). A masked slot (algorithms without masking pick them)
    sends an empty output, which the environment scores 0 like any invalid output, and sets
    ``info["masked_action"]``; ``masked_action="error"`` raises ``ValueError`` instead.
    """

    def __init__(self, env: gym.Env | None = None, *, config: FeatureConfig = FeatureConfig(),
                 reward_scale: float = 1.0, masked_action: str = "score_zero", **env_kwargs: Any) -> None:
        if masked_action not in ("score_zero", "error"):
            raise ValueError(f"masked_action must be 'score_zero' or 'error', got {masked_action!r}")
        if env is None:
            from shop_env.env import ShopSessionEnv
            env = ShopSessionEnv(**env_kwargs)
        super().__init__(env)
        self.masked_action = masked_action
        self.featurizer = Featurizer(config)
        self.reward_scale = float(reward_scale)
        self.action_space = gym.spaces.Discrete(config.max_candidates)
        self.observation_space = gym.spaces.Box(0.0, np.inf, shape=(config.dim,), dtype=np.float32)
        self._cands: dict[int, Candidate] = {}
        self._mask = np.zeros(config.max_candidates, dtype=bool)

    def _observe(self, info: Mapping[str, Any]) -> np.ndarray:
        vec, self._cands, self._mask = self.featurizer(info)
        return vec

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        _, info = self.env.reset(seed=seed, options=options)
        return self._observe(info), info

    def step(self, action: int):
        a = int(action)
        cand = self._cands.get(a)
        if cand is None and self.masked_action == "error":
            raise ValueError(f"action {a} is masked: this page's candidate slots are {sorted(self._cands)}")
        _, reward, terminated, truncated, info = self.env.step("" if cand is None else cand.output_text())
        info = dict(info, shop_r1_reward=float(reward), masked_action=cand is None,
                    chosen=None if cand is None else cand.action.to_dict())
        vec = self._observe(info) if not (terminated or truncated) else np.zeros(
            self.observation_space.shape, dtype=np.float32)
        return vec, float(reward) * self.reward_scale, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Which slots hold a candidate on the current page (sb3-contrib's MaskablePPO reads this)."""
        return self._mask.copy()

    def candidates(self) -> dict[int, Candidate]:
        """The current page's candidates by slot (action index)."""
        return dict(self._cands)


class SB3Policy:
    """A trained SB3 model as a :class:`shop_env.policy.Policy` for the evaluation harness.

    Uses the same :class:`Featurizer` as training (it reads ``infos``, not the prompt
    text); masked models get the action mask. ``deterministic=True`` takes the most likely
    candidate.
    """

    def __init__(self, model: Any, config: FeatureConfig = FeatureConfig(), name: str = "maskable_ppo",
                 deterministic: bool = True) -> None:
        self.model = model
        self.featurizer = Featurizer(config)
        self.name = name
        self.deterministic = deterministic

    def act(self, observations: Sequence[str], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        outs = []
        for info in infos:
            vec, cands, mask = self.featurizer(info)
            try:
                a, _ = self.model.predict(vec, action_masks=mask, deterministic=self.deterministic)
            except TypeError:  # a plain SB3 model without masking
                a, _ = self.model.predict(vec, deterministic=self.deterministic)
            outs.append(cands.get(int(a), cands[0]).output_text())
        return outs


def _progress_callback(total_timesteps: int):
    """An SB3 callback that shows training progress with tqdm."""
    callbacks = require("stable_baselines3.common.callbacks", "sb3")
    from tqdm import tqdm

    class TqdmCallback(callbacks.BaseCallback):
        def _on_training_start(self) -> None:
            self.bar = tqdm(total=total_timesteps, unit="step", desc="MaskablePPO")

        def _on_step(self) -> bool:
            self.bar.update(self.training_env.num_envs)
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    return TqdmCallback()


def train_maskable_ppo(env: ShopSB3Env | Any, total_timesteps: int, *, seed: int = 0,
                       progress: bool = False, **ppo_kwargs: Any):
    """Train sb3-contrib's ``MaskablePPO`` (``MlpPolicy``) on ``env`` and return the model.

    Defaults suit replay: ``gamma=0`` (the next page does not depend on the action, so each
    step is a contextual bandit and only its own reward counts); the other defaults
    (rollouts of 256 steps, minibatch 64, lr 3e-3, no entropy bonus) learned fastest on the
    sample in a small sweep. ``progress`` shows a tqdm bar. ``ppo_kwargs`` override.
    """
    sb3_contrib = require("sb3_contrib", "sb3")
    kwargs: dict[str, Any] = dict(gamma=0.0, gae_lambda=1.0, n_steps=256, batch_size=64, n_epochs=10,
                                  learning_rate=3e-3, ent_coef=0.0, verbose=0, device="cpu")
    kwargs.update(ppo_kwargs)
    model = sb3_contrib.MaskablePPO("MlpPolicy", env, seed=seed, **kwargs)
    model.learn(total_timesteps=total_timesteps,
                callback=_progress_callback(total_timesteps) if progress else None)
    return model
