"""Pieces shared by the SFT and GRPO trainers: loading, LoRA, schedules, runtime, checkpoints.

Checkpoints are directories ``OUT/checkpoint-NNNNNN`` holding ``model/`` (``save_pretrained``:
full weights, or the LoRA adapter), ``tokenizer`` files, ``trainer.pt`` (optimizer,
scheduler and RNG states) and ``trainer_state.json`` (step, config). Each is written to a
temporary sibling and renamed into place, and ``OUT/latest`` (the name of the newest
checkpoint) is replaced atomically afterwards, so a run killed at any moment resumes from
the last complete checkpoint.

Multi-GPU: when launched with ``accelerate launch`` or ``torchrun`` (``WORLD_SIZE > 1``)
:class:`Runtime` uses ``accelerate.Accelerator`` (DDP; gloo across CPU processes when there
is no GPU); otherwise it is a plain single-device loop. Under DDP each process normalises its
loss over its own tokens and DDP averages the gradients across processes.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import types
import typing
import warnings
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from agents.llm import resolve_device
from shop_env.data.atomic import atomic_directory, write_text_atomic

LATEST = "latest"


@dataclass
class LoraSettings:
    """LoRA adapter settings (peft). ``target_modules="all-linear"`` adapts every linear layer."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"


#: LoRA settings: ``None``/``False`` (none), ``True`` (defaults), a dict of fields, or :class:`LoraSettings`.
LoraSpec = Union[None, bool, dict[str, Union[int, float, str, list[str]]], LoraSettings]


def coerce_lora(value: LoraSettings | dict | bool | None) -> LoraSettings | None:
    """``None``/``False`` -> no LoRA; ``True`` -> defaults; a dict -> :class:`LoraSettings`."""
    if value is None or value is False:
        return None
    if value is True:
        return LoraSettings()
    if isinstance(value, LoraSettings):
        return value
    if isinstance(value, dict):
        return LoraSettings(**value)
    raise TypeError(f"lora must be None, a bool, a dict or LoraSettings, got {type(value).__name__}")


# Numeric config fields that must be > 0, or >= 0, when set (a field absent from a config is ignored).
_POSITIVE = frozenset({"batch_size", "grad_accum", "max_length", "epochs", "num_generations", "prompts_per_step",
                       "max_new_tokens", "micro_batch_size", "num_iterations", "generation_rows", "max_chars",
                       "max_prompt_tokens", "limit_sessions", "limit_examples", "top_p"})
_NON_NEGATIVE = frozenset({"lr", "max_steps", "warmup_ratio", "warmup_steps", "weight_decay", "max_grad_norm",
                           "temperature", "clip_eps", "save_every", "save_total_limit", "alpha", "beta"})


def _has_type(value: Any, hint: Any) -> bool:
    """Does ``value`` fit ``hint``? Scalars are checked (an int is a float, a bool is no
    int); containers and classes are left to the code that uses them."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_has_type(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    return True


def check_config_fields(config: Any) -> None:
    """Raise :class:`~shop_env.errors.FieldError` naming the first field of dataclass ``config``
    whose value has the wrong type (``max_steps="abc"``) or range (``lr=-1``, ``batch_size=0``)."""
    from shop_env.errors import FieldError

    hints = typing.get_type_hints(type(config))
    for f in fields(config):
        value = getattr(config, f.name)
        if not _has_type(value, hints.get(f.name, Any)):
            raise FieldError(f.name, f"{type(config).__name__}.{f.name}: expected {hints[f.name]}, got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if (f.name in _POSITIVE and not value > 0) or (f.name in _NON_NEGATIVE and not value >= 0):
                bound = "> 0" if f.name in _POSITIVE else ">= 0"
                raise FieldError(f.name, f"{type(config).__name__}.{f.name} must be {bound}, got {value!r}")


def config_from_dict(cls, data: dict[str, Any], source: str = "config"):
    """Build dataclass ``cls`` from ``data``; unknown keys and values of the wrong type or
    range raise a :class:`~shop_env.errors.DataError` naming ``source`` and the key."""
    from shop_env.errors import DataError, FieldError

    names = {f.name for f in fields(cls)}
    for key in data:
        if key not in names:
            raise DataError(f"unknown {cls.__name__} option (known: {sorted(names)})", path=source, field=key)
    config = cls(**data)
    try:
        check_config_fields(config)
    except FieldError as e:
        raise DataError(e.detail, path=source, field=e.field) from None
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready dict of a (nested) dataclass config."""
    return json.loads(json.dumps(asdict(config) if is_dataclass(config) else dict(config), default=str))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from integers (the same on every machine), e.g. ``(seed, step)``."""
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h >> 1


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The data order of one epoch: a permutation that depends only on (seed, epoch)."""
    return np.random.default_rng(derived_seed(seed, epoch)).permutation(n)


def indices_for(start: int, count: int, n: int, seed: int) -> list[int]:
    """Items ``start .. start+count-1`` of the endless stream of shuffled epochs (stateless)."""
    out = []
    for k in range(start, start + count):
        epoch, pos = divmod(k, n)
        out.append(int(epoch_order(n, seed, epoch)[pos]))
    return out


def lr_lambda(schedule: str, warmup: int, total: int):
    """Multiplier for ``LambdaLR``: linear warm-up, then ``cosine``, ``linear`` or ``constant``."""
    if schedule not in ("cosine", "linear", "constant"):
        raise ValueError(f"lr_schedule must be cosine, linear or constant, got {schedule!r}")

    def f(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        frac = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1 + math.cos(math.pi * frac)) if schedule == "cosine" else 1.0 - frac
    return f


class Runtime:
    """Device placement, autocast and (under ``accelerate launch``) DDP for the trainers."""

    def __init__(self, device: str = "auto") -> None:
        self.accelerator = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import Accelerator

            # cpu=True makes accelerate set up gloo DDP across CPU processes (torchrun --nproc_per_node N).
            self.accelerator = Accelerator(cpu=device == "cpu" or not torch.cuda.is_available())
            self.device = self.accelerator.device
            self.rank, self.world_size = self.accelerator.process_index, self.accelerator.num_processes
        else:
            self.device = resolve_device(device)
            self.rank, self.world_size = 0, 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def prepare(self, model, optimizer):
        if self.accelerator is None:
            return model, optimizer
        return self.accelerator.prepare(model, optimizer)

    def unwrap(self, model):
        return model if self.accelerator is None else self.accelerator.unwrap_model(model)

    def backward(self, loss: torch.Tensor) -> None:
        if self.accelerator is None:
            loss.backward()
        else:
            self.accelerator.backward(loss)

    def autocast(self):
        """bf16 autocast on CUDA (weights stay fp32, so tiny RL learning rates still move them)."""
        if self.device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def mean(self, value: float) -> float:
        """Mean of a scalar over processes."""
        if self.accelerator is None:
            return float(value)
        t = torch.tensor([float(value)], device=self.device)
        return float(self.accelerator.reduce(t, reduction="mean"))

    def max(self, value: int) -> int:
        """Largest of an integer over processes (e.g. a count every process must agree on)."""
        if self.accelerator is None:
            return int(value)
        t = torch.tensor([int(value)], device=self.device)
        return int(self.accelerator.reduce(t, reduction="max").item())

    def barrier(self) -> None:
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()


def load_for_training(path: str | os.PathLike, runtime: Runtime, *, lora: LoraSettings | None = None,
                      gradient_checkpointing: bool = False, adapter_dir: str | os.PathLike | None = None,
                      dtype: str = "auto"):
    """Load ``(model, tokenizer)`` to train: fp32 weights (``dtype="auto"``), optional LoRA.

    ``adapter_dir`` reloads a saved LoRA adapter (resuming); for full fine-tuning resume by
    passing the checkpoint's ``model/`` directory as ``path``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = torch.float32 if dtype == "auto" else getattr(torch, dtype)
    if torch_dtype != torch.float32 and lora is None and adapter_dir is None:
        warnings.warn(f"dtype={dtype}: the weights themselves are trained in {dtype}, with no float32 copy, so "
                      "updates smaller than its resolution are lost (at lr 1e-7 almost all of them); "
                      "dtype='auto' keeps float32 weights and computes in bfloat16 on a GPU", stacklevel=2)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(runtime.device)
    if gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()  # transformers >= 5 renamed gradient checkpointing to activation checkpointing
        model.config.use_cache = False
    if lora is not None or adapter_dir is not None:
        try:
            import peft
        except ImportError as e:  # pragma: no cover - peft is in the dev extra
            from shop_env.errors import MissingExtraError
            raise MissingExtraError("peft", "lora") from e
        if adapter_dir is not None:
            model = peft.PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)
        else:
            cfg = peft.LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                  target_modules=lora.target_modules, task_type="CAUSAL_LM")
            model = peft.get_peft_model(model, cfg)
        if gradient_checkpointing:
            model.enable_input_require_grads()
    model.train()
    return model, tokenizer


def load_frozen(path: str | os.PathLike, device: torch.device, dtype: torch.dtype = torch.float32):
    """A frozen copy of the model at ``path`` (the reference policy), in ``dtype``.

    Pass the policy's dtype: a reference in another dtype makes the KL non-zero before any update.
    """
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    model.eval()
    model.requires_grad_(False)
    return model


def save_checkpoint(out: Path, step: int, model, tokenizer, optimizer, scheduler,
                    state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``out/checkpoint-<step>`` atomically, point ``out/latest`` at it, prune old ones."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"checkpoint-{step:06d}"
    with atomic_directory(out / name) as tmp:
        model.save_pretrained(tmp / "model")
        tokenizer.save_pretrained(tmp / "model")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state()},
                   tmp / "trainer.pt")
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step, **state}, indent=2, default=str))
    write_text_atomic(out / LATEST, name)
    ckpts = sorted(p for p in out.glob("checkpoint-*") if p.is_dir())
    for old in ckpts[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return out / name



def maybe_checkpoint(runtime, config, kind: str, out: Path, step: int, last_step: int,
                     model, tokenizer, optimizer, scheduler) -> None:
    """Checkpoint every ``config.save_every`` steps (0: never before the end) and always at
    ``last_step``, so a finished run can be extended (rank 0), then sync."""
    if runtime.is_main and ((config.save_every and step % config.save_every == 0) or step == last_step):
        save_checkpoint(out, step, runtime.unwrap(model), tokenizer, optimizer, scheduler,
                        {"config": config_to_dict(config), "kind": kind}, keep=config.save_total_limit)
    runtime.barrier()


def finish_training(runtime, out: Path, model, tokenizer, bar, log) -> Path:
    """Close the progress bar and logs, save ``out/final`` (rank 0), sync, return its path."""
    bar.close()
    log.close()
    if runtime.is_main:
        save_final(out, runtime.unwrap(model), tokenizer)
    runtime.barrier()
    return out / "final"

def start_checkpoints(runtime, out: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from (``resume``), else ``None`` after removing an earlier
    run's checkpoints (rank 0), which would otherwise outlive this run's and be resumed."""
    if resume:
        return latest_checkpoint(out)
    if runtime.is_main:
        for old in Path(out).glob("checkpoint-*"):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        (Path(out) / LATEST).unlink(missing_ok=True)
    runtime.barrier()
    return None


def latest_checkpoint(out: Path) -> Path | None:
    """The checkpoint ``out/latest`` names, if it exists."""
    pointer = Path(out) / LATEST
    if not pointer.exists():
        return None
    ckpt = Path(out) / pointer.read_text(encoding="utf-8").strip()
    return ckpt if (ckpt / "trainer_state.json").exists() else None


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) RNG states as tensors and plain containers only,
    so that ``torch.load(..., weights_only=True)`` can read them back."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(rng: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))
    n = rng["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(rng["torch"])
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def restore_trainer(ckpt: Path, optimizer, scheduler) -> dict[str, Any]:
    """Load optimizer, scheduler and RNG states from ``ckpt``; return its trainer_state.json.

    ``trainer.pt`` is read with ``weights_only=True``: tensors and plain containers only, so a
    file planted in the output directory cannot run code.
    """
    import pickle

    from shop_env.errors import DataError

    path = ckpt / "trainer.pt"
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"refusing to load: not a plain tensor/state file ({first})", path=path) from None
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    set_rng_state(blob["rng"])
    return json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))


def save_final(out: Path, model, tokenizer) -> Path:
    """Write a loadable model to ``out/final`` (LoRA merged into the base), atomically."""
    final = out / "final"
    with atomic_directory(final) as tmp:
        to_save = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
        to_save.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return final


@dataclass
class MetricLog:
    """Scalars to TensorBoard (``out/tb``) and ``out/metrics.jsonl`` (main process only)."""

    out: Path
    tensorboard: bool = True
    enabled: bool = True
    _writer: Any = field(default=None, repr=False)

    def log(self, step: int, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **scalars}) + "\n")
        if self.tensorboard:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter
                self._writer = SummaryWriter(str(self.out / "tb"))
            for k, v in scalars.items():
                self._writer.add_scalar(k, v, step)

    def truncate_after(self, step: int) -> None:
        """Drop ``metrics.jsonl`` lines past ``step`` (written after the checkpoint a run resumes from)."""
        path = self.out / "metrics.jsonl"
        if not self.enabled or not path.exists():
            return
        keep = [ln for ln in path.read_text(encoding="utf-8").splitlines()
                if ln.strip() and json.loads(ln).get("step", 0) <= step]
        write_text_atomic(path, "".join(ln + "\n" for ln in keep))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
