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
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.training.utils import config_from_dict
from shop_env.errors import DataError

__all__ = ["Setting", "configs_dir", "list_settings", "load_setting", "sft_config", "grpo_config"]

_KEYS = {"name", "description", "sft", "rl", "paper"}


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


def sft_config(setting: Setting, **overrides: Any):
    """The :class:`agents.training.sft.SFTConfig` of ``setting``'s SFT stage, with overrides (e.g. ``model``, ``out``)."""
    from agents.training.sft import SFTConfig

    if setting.sft is None:
        raise ValueError(f"setting {setting.name!r} has no SFT stage")
    return config_from_dict(SFTConfig, {**setting.sft, **_set(overrides)}, source=setting.source or setting.name)


def grpo_config(setting: Setting, **overrides: Any):
    """The :class:`agents.training.grpo.GRPOConfig` of ``setting``'s RL stage, with overrides."""
    from agents.training.grpo import GRPOConfig, reward_config

    if setting.rl is None:
        raise ValueError(f"setting {setting.name!r} has no RL stage")
    cfg = config_from_dict(GRPOConfig, {**setting.rl, **_set(overrides)}, source=setting.source or setting.name)
    try:
        reward_config(cfg.reward)
    except (ValueError, TypeError) as e:
        raise DataError(str(e), path=setting.source or setting.name, field="rl.reward") from None
    return cfg


def _set(overrides: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in overrides.items() if v is not None}
