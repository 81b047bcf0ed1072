"""TRL adapter: a GRPO dataset of replayed steps, and the Shop-R1 reward as TRL reward functions.

Requires ``pip install 'shop-r1[trl]'`` (``trl`` and ``datasets``); importing this module
does not import them, :func:`build_dataset` and the trainer do.

Usage with ``trl.GRPOTrainer``::

    from shop_env.integrations.trl import build_dataset, reward_funcs, REWARD_WEIGHTS
    ds = build_dataset("data/sample", split="train", max_chars=4000)
    args = GRPOConfig(..., reward_weights=REWARD_WEIGHTS)
    trainer = GRPOTrainer(model, reward_funcs=reward_funcs(), args=args, train_dataset=ds)

:func:`reward_funcs` returns one function per reward component (format, type, attribute,
value), the total and the exact match, so TRL logs ``rewards/shop_r1_<component>/mean``
for each. Every one reads :func:`shop_env.reward.score_output` (the one scoring path),
computed once per completion. The weights :data:`REWARD_WEIGHTS` put all the weight on the
total, so the trained reward is exactly ``score_output(...).reward.total`` whatever the
reward mode (the components do not sum to the total under ``action_reward="binary"``).
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

from shop_env.actions import Action
from shop_env.data.store import SessionStore
from shop_env.integrations._optional import require
from shop_env.integrations._rows import iter_step_rows, resolve_store

__all__ = ["COMPONENTS", "REWARD_WEIGHTS", "ShopR1Reward", "build_dataset", "completion_text", "make_grpo_trainer",
           "reward_funcs"]

COMPONENTS: tuple[str, ...] = ("format", "type", "attribute", "value", "total", "exact_match")
REWARD_WEIGHTS: list[float] = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
_CACHE_LIMIT = 8192


def build_dataset(store: SessionStore | str | os.PathLike, split: str = "train", *, context: str = "whole_session",
                  max_chars: int | None = None, max_tokens: int | None = None, tokenizer: Any = None,
                  include_persona: bool = True, limit: int | None = None):
    """A ``datasets.Dataset`` with one row per replayed step of ``store`` (or of its ``split``).

    Columns: ``prompt`` (conversational: list of ``{"role", "content"}``), ``gold_action``
    (canonical JSON), ``gold_type``, ``gold_name``, ``gold_text``, ``session_id``,
    ``step_index``, ``target_kept``. TRL forwards the extra columns to the reward functions.
    TRL 1.x does not truncate prompts, so bound them here with ``max_chars``/``max_tokens``.
    """
    datasets = require("datasets", "trl")
    st = resolve_store(store, split)
    rows = iter_step_rows(st, context=context, max_chars=max_chars, max_tokens=max_tokens, tokenizer=tokenizer,
                          include_persona=include_persona, limit=limit)
    data: dict[str, list[Any]] = {k: [] for k in ("prompt", "gold_action", "gold_type", "gold_name", "gold_text",
                                                  "session_id", "step_index", "target_kept")}
    for r in rows:
        data["prompt"].append(r.messages)
        data["gold_action"].append(json.dumps(r.gold, ensure_ascii=False))
        data["gold_type"].append(r.gold["type"])
        data["gold_name"].append(r.gold.get("name", ""))
        data["gold_text"].append(r.gold.get("text", ""))
        data["session_id"].append(r.session_id)
        data["step_index"].append(r.step_index)
        data["target_kept"].append(r.target_kept)
    return datasets.Dataset.from_dict(data)


def completion_text(completion: Any) -> str:
    """The text of one TRL completion: a plain string, or the assistant content of a message list."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
        parts = []
        for m in completion:
            if not isinstance(m, dict) or m.get("role", "assistant") != "assistant":
                continue
            content = m.get("content", "")
            if isinstance(content, list):  # content blocks: keep the text parts
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            parts.append(str(content))
        return "".join(parts)
    return "" if completion is None else str(completion)


def _gold_from_columns(i: int, gold_action: Sequence[Any] | None, gold_type: Sequence[str] | None,
                       gold_name: Sequence[str] | None, gold_text: Sequence[str] | None) -> Action:
    if gold_action is not None:
        g = gold_action[i]
        return Action.from_dict(json.loads(g) if isinstance(g, str) else g)
    if gold_type is None:
        raise ValueError("reward function needs the dataset column 'gold_action' (or 'gold_type'/'gold_name'/"
                         "'gold_text'); build the dataset with shop_env.integrations.trl.build_dataset")
    return Action(type=gold_type[i], name=(gold_name[i] if gold_name is not None else "") or "",
                  text=(gold_text[i] if gold_text is not None else "") or "")


class ShopR1Reward:
    """One Shop-R1 reward component (or the exact match) in TRL's reward-function signature.

    Called as ``f(prompts=..., completions=..., gold_action=[...], **kwargs) -> list[float]``.
    ``__name__`` is ``shop_r1_<component>``, which TRL uses in its logs. Instances made by
    :func:`reward_funcs` share one cache, so the reward is computed once per completion.
    Picklable (for multi-process trainers).
    """

    def __init__(self, component: str, config: Any = None, cache: dict | None = None) -> None:
        if component not in COMPONENTS:
            raise ValueError(f"component must be one of {COMPONENTS}, got {component!r}")
        self.component = component
        self.config = config
        self.__name__ = f"shop_r1_{component}"
        self._cache: dict = {} if cache is None else cache

    def _score(self, text: str, gold: Action):
        from shop_env.reward import score_output

        key = (text, gold.to_json())
        score = self._cache.get(key)
        if score is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            score = score_output(text, gold, self.config)
            self._cache[key] = score
        return score

    def _value(self, text: str, gold: Action) -> float:
        score = self._score(text, gold)
        if self.component == "exact_match":
            return float(score.exact_match)
        return float(getattr(score.reward, self.component))

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),
                 gold_action: Sequence[Any] | None = None, gold_type: Sequence[str] | None = None,
                 gold_name: Sequence[str] | None = None, gold_text: Sequence[str] | None = None,
                 **kwargs: Any) -> list[float]:
        out = []
        for i, c in enumerate(completions):
            gold = _gold_from_columns(i, gold_action, gold_type, gold_name, gold_text)
            out.append(self._value(completion_text(c), gold))
        return out

    def __repr__(self) -> str:
        return f"ShopR1Reward({self.component!r})"


def reward_funcs(config: Any = None, components: Sequence[str] = COMPONENTS) -> list[ShopR1Reward]:
    """Reward functions for ``GRPOTrainer(reward_funcs=...)``, one per component, sharing a cache.

    Pair the default with ``GRPOConfig(reward_weights=REWARD_WEIGHTS)`` so that only the
    total drives training while every component is logged.
    """
    cache: dict = {}
    return [ShopR1Reward(c, config, cache) for c in components]


def make_grpo_trainer(model: Any, train_dataset: Any, *, output_dir: str | os.PathLike,
                      tokenizer: Any = None, reward_config: Any = None, num_generations: int = 8,
                      prompts_per_step: int = 1, max_completion_length: int = 256, max_steps: int = 500,
                      learning_rate: float = 1e-7, temperature: float = 0.6, beta: float = 0.001,
                      seed: int = 0, callbacks: Sequence[Any] | None = None, **config_kwargs: Any):
    """A ``trl.GRPOTrainer`` wired to the Shop-R1 reward, with the paper's RL settings as defaults.

    ``model`` is a path/hub id or a loaded causal LM; ``tokenizer`` its tokenizer (loaded
    from ``model`` when ``None``; padding side is set to left as TRL requires). Each step
    samples ``num_generations`` completions for each of ``prompts_per_step`` prompts
    (TRL's ``per_device_train_batch_size`` counts completions, so it is their product).
    Defaults: lr 1e-7, temperature 0.6, KL beta 0.001 (SPEC "Training recipe").
    ``config_kwargs`` go to ``GRPOConfig`` unchanged (e.g. ``use_cpu=True``, ``report_to``).
    The self-certainty bonus is not added here (TRL reward functions do not see logits);
    ``agents.training.grpo`` adds it.
    """
    trl = require("trl", "trl")
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model if isinstance(model, (str, os.PathLike)) else
                                                  model.config.name_or_path)
    tokenizer.padding_side = "left"
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    defaults: dict[str, Any] = dict(report_to=[], save_strategy="no", logging_steps=1, bf16=False,
                                    disable_tqdm=True, dataloader_num_workers=0)
    import torch

    if config_kwargs.get("use_cpu") or not torch.cuda.is_available():
        defaults["dataloader_pin_memory"] = False  # nothing to pin for
    defaults.update(config_kwargs)
    args = trl.GRPOConfig(
        output_dir=os.fspath(output_dir), num_generations=num_generations,
        per_device_train_batch_size=num_generations * prompts_per_step,
        max_completion_length=max_completion_length, max_steps=max_steps, learning_rate=learning_rate,
        temperature=temperature, beta=beta, seed=seed, reward_weights=list(REWARD_WEIGHTS), **defaults)
    return trl.GRPOTrainer(model=model, reward_funcs=reward_funcs(reward_config), args=args,
                           train_dataset=train_dataset, processing_class=tokenizer,
                           callbacks=list(callbacks) if callbacks else None)
