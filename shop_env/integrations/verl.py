"""verl adapter: export replayed steps to verl's RL parquet layout, and score responses for it.

verl (https://github.com/volcengine/verl) reads one parquet row per prompt with the columns

- ``data_source`` (str): which reward function applies; ours is :data:`DATA_SOURCE`;
- ``prompt`` (list of ``{"role", "content"}``): chat messages, templated by verl;
- ``ability`` (str): a free-form task tag;
- ``reward_model`` (struct ``{"style": "rule", "ground_truth": str}``): the gold action as
  canonical JSON (``Action.to_json()``);
- ``extra_info`` (struct): ``split``, ``index``, ``session_id``, ``step_index``,
  ``target_kept``, ``gold_type``.

A custom reward function is named in verl's config as ``custom_reward_function.path`` (this
file) and ``custom_reward_function.name=compute_score``; verl calls it as
``compute_score(data_source, solution_str, ground_truth, extra_info)``, plus any
``custom_reward_function.reward_kwargs``, which here are :class:`shop_env.reward.RewardConfig`
fields (e.g. ``dars_factor``, ``threshold``, ``action_reward``) or ``preset`` (a name in
:data:`shop_env.reward.PRESETS`, e.g. ``no_dars``). It returns a dict whose
``"score"`` is the Shop-R1 reward; verl logs the other keys (the components) too.

The exporter needs only pyarrow (a core dependency); verl itself is not needed here.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from shop_env.actions import Action
from shop_env.data.store import SessionStore
from shop_env.integrations._rows import iter_step_rows, resolve_store

__all__ = ["ABILITY", "DATA_SOURCE", "VERL_SCHEMA", "compute_score", "export_verl_parquet", "verl_records"]

DATA_SOURCE = "shop_r1"
ABILITY = "shopping_behavior_simulation"
# Chat end markers some verl reward managers leave in the decoded response.
_TRAILING_SPECIAL = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>", "<|end|>")


def _schema():
    import pyarrow as pa

    return pa.schema([
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct([
            ("split", pa.string()), ("index", pa.int64()), ("session_id", pa.string()),
            ("step_index", pa.int64()), ("target_kept", pa.bool_()), ("gold_type", pa.string()),
        ])),
    ])


def __getattr__(name: str):
    if name == "VERL_SCHEMA":
        return _schema()
    raise AttributeError(name)


def verl_records(store: SessionStore | str | os.PathLike, split: str = "train", *,
                 context: str = "whole_session", max_chars: int | None = None, max_tokens: int | None = None,
                 tokenizer: Any = None, include_persona: bool = True, limit: int | None = None):
    """Yield verl rows (plain dicts in the layout above), one per replayed step."""
    st = resolve_store(store, split)
    for i, row in enumerate(iter_step_rows(st, context=context, max_chars=max_chars, max_tokens=max_tokens,
                                           tokenizer=tokenizer, include_persona=include_persona, limit=limit)):
        yield {
            "data_source": DATA_SOURCE,
            "prompt": row.messages,
            "ability": ABILITY,
            "reward_model": {"style": "rule", "ground_truth": json.dumps(row.gold, ensure_ascii=False)},
            "extra_info": {"split": split, "index": i, "session_id": row.session_id,
                           "step_index": row.step_index, "target_kept": row.target_kept,
                           "gold_type": row.gold["type"]},
        }


def export_verl_parquet(store: SessionStore | str | os.PathLike, out: str | os.PathLike, *, split: str = "train",
                        batch_rows: int = 512, **prompt_kwargs: Any) -> Path:
    """Write ``store`` (or the ``split`` of the store at a path) to ``out`` as a verl parquet file.

    Rows are written in batches of ``batch_rows`` so memory stays bounded on large stores.
    ``prompt_kwargs`` go to the prompt builder (``context``, ``max_chars``, ``max_tokens``,
    ``tokenizer``, ``include_persona``, ``limit``). Returns ``out``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    schema = _schema()
    tmp = out.with_name(f".{out.name}.tmp")
    writer = pq.ParquetWriter(tmp, schema)
    try:
        batch: list[dict[str, Any]] = []
        written = 0
        for rec in verl_records(store, split, **prompt_kwargs):
            batch.append(rec)
            if len(batch) >= batch_rows:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                written += len(batch)
                batch = []
        if batch or not written:  # an empty store still gets a valid (empty) file
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    writer.close()
    os.replace(tmp, out)
    return out


@lru_cache(maxsize=32)
def _config(items: tuple[tuple[str, Any], ...]):
    from shop_env.reward import RewardConfig

    kwargs = dict(items)
    preset = kwargs.pop("preset", None)
    return RewardConfig.preset(str(preset), **kwargs) if preset is not None else RewardConfig(**kwargs)


def _gold(ground_truth: Any) -> Action:
    if isinstance(ground_truth, Action):
        return ground_truth
    if isinstance(ground_truth, (str, bytes)):
        try:
            ground_truth = json.loads(ground_truth)
        except json.JSONDecodeError as e:
            raise ValueError(f"ground_truth is not JSON: {e}") from None
    if isinstance(ground_truth, Mapping) and "action" in ground_truth and "type" not in ground_truth:
        ground_truth = ground_truth["action"]
    if not isinstance(ground_truth, Mapping):
        raise ValueError(f"ground_truth must be an action JSON object, got {type(ground_truth).__name__}")
    return Action.from_dict({k: v for k, v in ground_truth.items() if v is not None})


def strip_trailing_special(text: str) -> str:
    """Drop chat end markers (``<|im_end|>`` and friends) and whitespace from the end of ``text``."""
    text = text.rstrip()
    changed = True
    while changed:
        changed = False
        for tok in _TRAILING_SPECIAL:
            if text.endswith(tok):
                text = text[: -len(tok)].rstrip()
                changed = True
    return text


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Any = None,
                  **reward_kwargs: Any) -> dict[str, float]:
    """verl's custom reward function: the Shop-R1 reward of ``solution_str`` against the gold action.

    ``ground_truth`` is the gold action as JSON text (as exported) or a dict. Keyword
    arguments are :class:`~shop_env.reward.RewardConfig` fields. Returns ``{"score": total,
    "format", "type", "attribute", "value", "exact_match"}``. A malformed response scores 0;
    a malformed ``ground_truth`` is a data error and raises ``ValueError``.
    """
    from shop_env.reward import score_output

    gold = _gold(ground_truth)
    config = _config(tuple(sorted(reward_kwargs.items()))) if reward_kwargs else None
    text = strip_trailing_special(solution_str if isinstance(solution_str, str) else str(solution_str))
    score = score_output(text, gold, config)
    b, em = score.reward, score.exact_match
    return {"score": float(b.total), "format": float(b.format), "type": float(b.type),
            "attribute": float(b.attribute), "value": float(b.value), "exact_match": float(em)}
