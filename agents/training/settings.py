"""The paper's training settings as named configs (``agents/training/paper_configs/<name>.json``).

Each setting has an optional SFT stage and an optional RL stage; the RL stage names a
reward preset of :class:`shop_env.reward.RewardConfig` (``shop_r1``, ``binary``,
``no_format``, ``no_rationale``, ``no_dars``, ``binary_action``):

=============== ===== ===================== =========================================
setting         SFT   RL reward preset      paper row
=============== ===== ===================== =========================================
zero_shot       -     -                     zero-shot prompting
rl_binary       -     binary                RL (binary)
sft             yes   -                     SFT
sft_rl_binary   yes   binary                SFT + RL (binary)
shop_r1         yes   shop_r1               Shop-R1
no_sft          -     shop_r1               ablation: w/o SFT
no_format       yes   no_format             ablation: w/o format reward
no_rationale    yes   no_rationale          ablation: w/o rationale reward
no_dars         yes   no_dars               ablation: w/o DARS
binary_action   yes   binary_action         ablation: binary action reward
=============== ===== ===================== =========================================

A setting file may be any JSON path with the same keys (``name``, ``description``,
``sft``, ``rl``, ``paper``); unknown keys are errors that name the file and the key.

**Paper sizes.** SFT and RL both use the paper's 32k-token context: prompts are budgeted
to ``max_prompt_tokens=32000`` by the prompt builder (oldest pages dropped first), SFT
sequences are at most ``max_length=32768`` tokens (a longer example is skipped, never
cut). Micro-batch 1 and gradient checkpointing keep one 32k sequence per forward pass.

**Decision: the paper's "global batch 64" counts prompts.** The paper trained with verl,
whose ``data.train_batch_size`` counts prompts; the group of ``rollout.n`` samples per
prompt comes on top. So one RL step takes 64 prompts x 8 samples = 512 completions
(``prompts_per_step=64``, ``num_generations=8``). Counting samples instead (8 prompts)
would make each step's advantage estimate rest on 8 sessions and, at lr 1e-7 over 500
steps, would see only 4,000 prompts of the paper's ~150k (context, action) pairs; 64
prompts x 500 steps = 32,000. ``prompts_per_step`` is per process: under N processes
pass ``--set prompts_per_step=64/N`` to keep the global 64.

**Presets** (:data:`PRESETS`, ``shop-r1 train sft|rl --preset NAME``) replace a setting's
sizes for other hardware and keep its method (reward, stages). ``cpu``: the latest-step
context with a 6,000-character prompt budget (at 2,600 no click target of the sample is visible),
small batches, 100 SFT and 10 RL steps,
sized for the tiny model of ``shop-r1 train tiny-model`` on a 2-core, 24 GB machine.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from agents.training.utils import config_from_dict
from shop_env.errors import DataError, FieldError

__all__ = ["PRESETS", "Setting", "check_run_dir", "configs_dir", "list_settings", "load_setting", "sft_config",
           "grpo_config"]

_KEYS = {"name", "description", "sft", "rl", "paper"}


_CPU_PROMPT = {"context": "latest_step", "max_chars": 6000, "max_prompt_tokens": None,
               "gradient_checkpointing": False}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {
        "sft": {**_CPU_PROMPT, "max_length": 4096, "batch_size": 1, "grad_accum": 1, "lr": 2e-3,
                "warmup_ratio": 0.03, "max_steps": 100},
        "rl": {**_CPU_PROMPT, "prompts_per_step": 2, "num_generations": 4, "micro_batch_size": 8,
               "max_new_tokens": 96, "lr": 1e-4, "max_steps": 10},
    },
}
"""Hardware presets: per stage, the config fields they replace (applied before ``--set``)."""

# Fields a rerun into the same output folder may change (resuming, extending, logging).
_RESUMABLE = {"out", "max_steps", "epochs", "progress", "tensorboard", "resume", "save_every", "save_total_limit",
              "device"}


def configs_dir() -> Path:
    """Where the named settings live (``agents/training/paper_configs``)."""
    return Path(__file__).resolve().parent / "paper_configs"


@dataclass
class Setting:
    """One paper setting: which stages run and with what overrides."""

    name: str
    description: str = ""
    sft: dict[str, Any] | None = None
    rl: dict[str, Any] | None = None
    paper: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def list_settings() -> list[str]:
    """Names of the bundled settings."""
    return sorted(p.stem for p in configs_dir().glob("*.json"))


def load_setting(name_or_path: str | os.PathLike) -> Setting:
    """A bundled setting by name, or a setting JSON file by path."""
    p = Path(name_or_path)
    if not p.suffix == ".json" or not p.exists():
        p = configs_dir() / f"{name_or_path}.json"
        if not p.exists():
            raise ValueError(f"unknown setting {str(name_or_path)!r}; choose from {list_settings()} or pass a .json path")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON: {e}", path=p) from None
    if not isinstance(data, dict):
        raise DataError("a setting must be a JSON object", path=p)
    for key in data:
        if key not in _KEYS:
            raise DataError(f"unknown setting key (known: {sorted(_KEYS)})", path=p, field=key)
    for stage in ("sft", "rl"):
        if data.get(stage) is not None and not isinstance(data[stage], dict):
            raise DataError("must be an object or null", path=p, field=stage)
    setting = Setting(name=str(data.get("name", p.stem)), description=data.get("description", ""),
                      sft=data.get("sft"), rl=data.get("rl"), paper=data.get("paper") or {}, source=str(p))
    if setting.rl is not None:  # fail early on a bad reward preset or option
        grpo_config(setting, model="(check)")
    if setting.sft is not None:
        sft_config(setting, model="(check)")
    return setting


def _known(cls, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as they are; an unknown key raises naming it (not the setting file)."""
    from dataclasses import fields

    known = {f.name for f in fields(cls)}
    for key in values:
        if key not in known:
            raise ValueError(f"unknown {cls.__name__} option {key!r} (from --set or an override); "
                             f"known: {', '.join(sorted(known))}")
    return dict(values)


def _overrides(cls, overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` without ``None`` values (an option not given); unknown keys raise."""
    return _set(_known(cls, overrides))


def _preset(name: str | None, stage: str) -> dict[str, Any]:
    if name is None:
        return {}
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name][stage]


def _build(cls, setting: Setting, stage: dict[str, Any], preset: dict[str, Any], overrides: dict[str, Any],
           sets: dict[str, Any] | None = None):
    """``cls`` from the setting's stage, the preset, the overrides (``None`` ignored) and
    ``sets`` (``None`` kept: ``--set max_chars=null`` clears a preset's budget), in that
    order; a bad value is reported against where it came from (the setting's file, or the
    override)."""
    given = {**_overrides(cls, overrides), **_known(cls, sets or {})}
    source = setting.source or setting.name
    try:
        config = config_from_dict(cls, {**stage, **preset, **given}, source=source)
        try:
            check_choices(config)
        except FieldError as e:
            raise DataError(e.detail, path=source, field=e.field) from None
        return config
    except DataError as e:
        if e.field in given:
            raise ValueError(f"{e.field}={given[e.field]!r} (from --set or an override): {e.detail}") from None
        raise


def check_choices(config: Any) -> None:
    """Raise :class:`~shop_env.errors.FieldError` for a training config value that is not one
    of its choices, before a run records anything."""
    import torch

    from agents.training.grpo_update import scale_mode
    from agents.training.sft import check_cut_targets
    from agents.training.utils import coerce_lora, lr_lambda
    from shop_env.prompts import CONTEXT_MODES

    def choice(field: str, ok: bool, why: str) -> None:
        if not ok:
            raise FieldError(field, why)

    def by(field: str, check: Callable[[], Any], prefix: str = "") -> None:
        try:
            check()
        except (TypeError, ValueError) as e:
            raise FieldError(field, f"{prefix}{e}") from None

    choice("dtype", config.dtype == "auto" or isinstance(getattr(torch, str(config.dtype), None), torch.dtype),
           f"dtype must be 'auto' or a torch dtype name (float32, bfloat16, ...), got {config.dtype!r}")
    choice("context", config.context in CONTEXT_MODES,
           f"context must be one of {list(CONTEXT_MODES)}, got {config.context!r}")
    by("lr_schedule", lambda: lr_lambda(config.lr_schedule, 0, 1))
    by("lora", lambda: coerce_lora(config.lora), "lora ")
    if hasattr(config, "cut_targets"):
        by("cut_targets", lambda: check_cut_targets(config.cut_targets))
    if hasattr(config, "scale_rewards"):
        by("scale_rewards", lambda: scale_mode(config.scale_rewards))
    backend = getattr(config, "generation_backend", "hf")
    choice("generation_backend", backend in ("hf", "vllm"),
           f"generation_backend must be 'hf' or 'vllm', got {backend!r}")
    loss_type = getattr(config, "loss_type", "sequence_mean")
    choice("loss_type", loss_type in ("sequence_mean", "token_mean"),
           f"loss_type must be sequence_mean or token_mean, got {loss_type!r}")


def sft_config(setting: Setting, preset: str | None = None, *, sets: dict[str, Any] | None = None,
               **overrides: Any):
    """The :class:`agents.training.sft.SFTConfig` of ``setting``'s SFT stage, then ``preset``, then
    overrides (e.g. ``model``, ``out``; ``None`` values are ignored), then ``sets`` (the
    ``--set`` values, ``None`` included)."""
    from agents.training.sft import SFTConfig

    if setting.sft is None:
        raise ValueError(f"setting {setting.name!r} has no SFT stage")
    return _build(SFTConfig, setting, setting.sft, _preset(preset, "sft"), overrides, sets)


def grpo_config(setting: Setting, preset: str | None = None, *, sets: dict[str, Any] | None = None,
                **overrides: Any):
    """The :class:`agents.training.grpo.GRPOConfig` of ``setting``'s RL stage, then ``preset``, then
    overrides, then ``sets`` (as :func:`sft_config`)."""
    from agents.training.grpo import GRPOConfig, reward_config

    if setting.rl is None:
        raise ValueError(f"setting {setting.name!r} has no RL stage")
    cfg = _build(GRPOConfig, setting, setting.rl, _preset(preset, "rl"), overrides, sets)
    try:
        reward_config(cfg.reward)
    except (ValueError, TypeError) as e:
        raise DataError(str(e), path=setting.source or setting.name, field="rl.reward") from None
    return cfg


def _set(overrides: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in overrides.items() if v is not None}


def check_run_dir(out: str | os.PathLike, config: Any, kind: str, *, record: bool = True) -> None:
    """Refuse an ``out`` that holds a run of another kind or with other settings; else record this one.

    ``out/run_config.json`` keeps the first run's config; a rerun may change only what
    resuming allows (steps, logging, device). Raises ``ValueError`` naming ``out`` and the
    differing fields; writes nothing then. ``record=False`` (the other processes of a
    multi-process run, which start alongside the one that records) only compares with a
    run already recorded.
    """
    from agents.training.utils import config_to_dict
    from shop_env.evaluation.results import write_text_atomic

    out = Path(out)
    entry = {"kind": kind, "config": config_to_dict(config)}
    path = out / "run_config.json"
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"not valid JSON ({e}); remove it or pass another --out", path=path) from None
        if old.get("kind") != kind:
            raise ValueError(f"{out} holds a {old.get('kind')} run, not {kind}; pass another --out")
        a, b = old.get("config", {}), entry["config"]
        diff = sorted(k for k in set(a) | set(b) if k not in _RESUMABLE and a.get(k) != b.get(k))
        if diff:
            raise ValueError(f"{out} holds a {kind} run with other settings ({', '.join(diff)}); "
                             f"pass another --out, or the same settings to resume")
        return
    if not record:
        return
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty and holds no {kind} run; pass another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(entry, indent=2, sort_keys=True))
