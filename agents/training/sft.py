"""Supervised cold start (SPEC "Training recipe" 1) on exactly the prompts the environment serves.

One layout everywhere: :func:`build_sft_examples` turns a session into one example per
trained step, whose ``messages`` are exactly what :class:`shop_env.env.ShopSessionEnv`
serves as ``info["messages"]`` at that step with the same settings (context mode, budget,
tokenizer, persona; both are built by :class:`shop_env.prompts.PromptBuilder`) and whose
``target`` is ``format_model_output(rationale, action)``. GRPO and evaluation use the same
builder, so a model is fine-tuned, RL-trained and evaluated on one prompt layout.

**No target without its page.** A step whose prompt does not fit at all is not an example;
neither is one whose prompt plus target exceeds ``max_length`` tokens (nothing is ever cut
from a sequence). A step whose gold element was cut from its own (current) page to fit the
budget is, by ``cut_targets``, either left out (``"skip"``) or trained with no loss on the
element's name (``"mask_name"``), so that the action types trained follow the data without
teaching the model to guess names it cannot see. Leaving them out removes mostly clicks (the
product a shopper opens lies further down a long results page): at ``make reproduce``'s
budget clicks are 38% of the steps and 27% of the trained targets. On validation,
``"mask_name"`` did not make the models click more (docs/reproduce.md). Skipped examples are
counted (``train/skipped``).

The loss is next-token cross-entropy on the target tokens only (content plus the
template's end-of-turn marker), averaged over all target tokens of an optimizer step, so
gradient accumulation equals one big batch. ``train_sft(SFTConfig(...))`` returns the
directory of the final model (``OUT/final``); checkpoints every ``save_every`` optimizer
steps; a rerun with the same ``out`` resumes.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from agents.llm import chat_segments, encode_chat
from agents.sampling import forward_params
from shop_env.actions import ACTION_TYPES, format_model_output
from shop_env.data.model import Session
from shop_env.prompts import PromptBuilder
from agents.training.utils import (LoraSpec, MetricLog, Runtime, coerce_lora, indices_for,
                                load_for_training, lr_lambda, restore_trainer, start_checkpoints,
                                finish_training, maybe_checkpoint, seed_everything)

__all__ = ["SFTConfig", "SFTExample", "CUT_TARGETS", "check_cut_targets", "build_sft_examples", "sft_example_at",
           "train_sft", "tokenize_example", "collate", "sft_loss", "sft_index"]

#: What SFT does with a step whose gold element was cut from its page by the budget.
CUT_TARGETS = ("skip", "mask_name")


@dataclass
class SFTConfig:
    r"""Settings of :func:`train_sft`. Defaults follow the paper (arXiv 2507.17842, section 4.1; SPEC
    "Training recipe" 1) unless marked *ours*.

    Parameters:
        > Model and data

        model (`str`):
            Directory (or hub name already in the local cache) of the model to fine-tune (paper:
            Qwen-2.5-3B-Instruct).
        out (`str`, *optional*, defaults to `"outputs/sft"`):
            Output directory: checkpoints, `metrics.jsonl`, TensorBoard `tb/`, `final/`.
        data (`str` or `None`, *optional*, defaults to `None`):
            Session store directory; `None` uses the embedded sample.
        split (`str`, *optional*, defaults to `"train"`):
            Store split to train on (`"train"`, `"test"` or `"all"`).
        context (`str`, *optional*, defaults to `"whole_session"`):
            Prompt context mode (paper: the whole session so far); `latest_step` trains one example per step.
        max_length (`int`, *optional*, defaults to `4096`):
            Tokens per example (prompt + target); a longer example is skipped, never cut.
        max_chars (`int` or `None`, *optional*, defaults to `None`):
            Prompt budget in characters, as the environment's `max_chars` (the oldest pages go
            first); `None` = none.
        max_prompt_tokens (`int` or `None`, *optional*, defaults to `None`):
            Prompt budget in tokens counted with this model's tokenizer, as the environment's
            `max_tokens`; `None` = none (paper settings: 32,000).
        include_persona (`bool`, *optional*, defaults to `True`):
            Show the shopper's persona in the prompt, as the environment does.
        limit_sessions (`int` or `None`, *optional*, defaults to `None`):
            Use at most this many sessions (*ours*).
        action_types (`tuple[str, ...]` or `None`, *optional*, defaults to `None`):
            Train only the steps whose gold action is of these types, e.g. `("type_and_submit",)`
            for a search-only stage (*ours*); `None` = every step.
        cut_targets (`str`, *optional*, defaults to `"skip"`):
            A step whose gold element was cut from its page by the budget: `"skip"` leaves it out,
            `"mask_name"` trains it with no loss on the element's name (*ours*; see the module doc).

        > Optimisation

        epochs (`float`, *optional*, defaults to `4.0`):
            Passes over the data (paper: 4).
        max_steps (`int` or `None`, *optional*, defaults to `None`):
            Optimizer steps; overrides `epochs` when set.
        lr (`float`, *optional*, defaults to `2e-05`):
            AdamW peak learning rate (paper: 2e-5).
        batch_size (`int`, *optional*, defaults to `1`):
            Examples (one trained step each) per micro-batch.
        grad_accum (`int`, *optional*, defaults to `8`):
            Micro-batches per optimizer step (the loss is averaged over all assistant tokens of the step).
        lr_schedule (`str`, *optional*, defaults to `"cosine"`):
            `cosine`, `linear` or `constant` after warm-up.
        warmup_ratio (`float`, *optional*, defaults to `0.03`):
            Fraction of the steps used for linear warm-up.
        weight_decay (`float`, *optional*, defaults to `0.0`):
            AdamW weight decay.
        max_grad_norm (`float`, *optional*, defaults to `1.0`):
            Gradient clipping norm.
        gradient_checkpointing (`bool`, *optional*, defaults to `False`):
            Recompute activations in the backward pass (memory for time).
        lora (`bool`, `dict`, `LoraSettings` or `None`, *optional*, defaults to `None`):
            LoRA adapter instead of full fine-tuning (*ours*; the paper fine-tunes fully).

        > Runtime and logging

        seed (`int`, *optional*, defaults to `0`):
            Seed of the data order and initialisation of any new weights.
        save_every (`int`, *optional*, defaults to `0`):
            Checkpoint every this many optimizer steps and always at the last one (so that
            more steps continue the run); 0 = only at the last one.
        save_total_limit (`int`, *optional*, defaults to `2`):
            Checkpoints kept.
        device (`str`, *optional*, defaults to `"auto"`):
            `auto` (CUDA when present), `cpu`, `cuda`, `cuda:1`, ...
        dtype (`str`, *optional*, defaults to `"auto"`):
            Training weights' dtype (`auto` = float32; or a torch dtype name).
        resume (`bool`, *optional*, defaults to `True`):
            Continue from `out`'s latest checkpoint when there is one.
        tensorboard (`bool`, *optional*, defaults to `True`):
            Write TensorBoard scalars to `out/tb`.
        progress (`bool`, *optional*, defaults to `True`):
            Show a tqdm progress bar.
    """

    model: str
    out: str = "outputs/sft"
    data: str | None = None
    split: str = "train"
    epochs: float = 4.0
    max_steps: int | None = None
    lr: float = 2e-5
    batch_size: int = 1              # examples (steps) per micro-batch
    grad_accum: int = 8              # micro-batches per optimizer step
    max_length: int = 4096           # tokens per example (prompt + target); longer ones are skipped
    lr_schedule: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    context: str = "whole_session"
    max_chars: int | None = None     # prompt budget in characters (as the env's max_chars)
    max_prompt_tokens: int | None = None  # prompt budget in tokens (as the env's max_tokens, with this tokenizer)
    include_persona: bool = True
    limit_sessions: int | None = None
    action_types: tuple[str, ...] | None = None
    cut_targets: str = "skip"
    seed: int = 0
    save_every: int = 0
    save_total_limit: int = 2
    device: str = "auto"
    dtype: str = "auto"
    gradient_checkpointing: bool = False
    lora: LoraSpec = None
    resume: bool = True
    tensorboard: bool = True
    progress: bool = True


@dataclass(frozen=True)
class SFTExample:
    """One trained step: the prompt the environment serves (``messages``) and the gold output (``target``)."""

    session_id: str
    step_index: int
    messages: list[dict[str, str]]
    target: str
    dropped_pages: tuple[int, ...] = ()
    untrained: tuple[tuple[int, int], ...] = ()
    """Character spans ``[start, end)`` of ``target`` that get no loss (a name cut from the page)."""


def check_cut_targets(value: str, field: str = "cut_targets") -> None:
    """Raise ``ValueError`` naming ``field`` unless ``value`` is one of :data:`CUT_TARGETS`."""
    if value not in CUT_TARGETS:
        raise ValueError(f"{field} must be one of {list(CUT_TARGETS)}, got {value!r}")


def _name_span(target: str, name: str) -> tuple[int, int]:
    """Where the action's ``name`` value (inside its quotes) lies in a ``format_model_output`` text."""
    quoted = json.dumps(name, ensure_ascii=False)
    start = target.rindex('"name": ' + quoted) + len('"name": "')
    return start, start + len(quoted) - 2


def sft_example_at(session: Session, step_index: int, builder: PromptBuilder,
                   cut_targets: str = "skip") -> SFTExample | None:
    """The example for one step, or None when its prompt does not fit, or its target element
    was cut from the page and ``cut_targets="skip"``."""
    check_cut_targets(cut_targets)
    p = builder.build(session, step_index)
    if not p.fits or (not p.target_kept and cut_targets == "skip"):
        return None
    step = session.steps[step_index]
    target = format_model_output(step.rationale or "", step.action)
    example = SFTExample(session.session_id, step_index, p.messages, target, tuple(p.dropped_pages))
    if not p.target_kept:
        example = replace(example, untrained=(_name_span(target, step.action.name),))
    return example


def build_sft_examples(session: Session, *, context: str = "whole_session", max_tokens: int | None = None,
                       max_chars: int | None = None, tokenizer: Any = None,
                       include_persona: bool = True, cut_targets: str = "skip") -> list[SFTExample]:
    """One :class:`SFTExample` per trained step of ``session``, in step order.

    ``messages`` equals the environment's ``info["messages"]`` at that step for a
    ``ShopSessionEnv`` built with the same keyword arguments. Steps whose prompt does not
    fit, and with ``cut_targets="skip"`` steps whose target element was cut from the page,
    are left out (see the module doc).
    """
    builder = PromptBuilder(context=context, max_chars=max_chars, max_tokens=max_tokens, tokenizer=tokenizer,
                            include_persona=include_persona)
    examples = (sft_example_at(session, k, builder, cut_targets) for k in range(len(session.steps)))
    return [e for e in examples if e is not None]


def tokenize_example(tokenizer, example: SFTExample, max_length: int) -> tuple[list[int], list[int]] | None:
    """``(input_ids, labels)`` (labels -100 off the target and on its untrained spans), or None when
    longer than ``max_length``."""
    messages = [*example.messages, {"role": "assistant", "content": example.target}]
    ids, is_target = encode_chat(tokenizer, messages)
    if len(ids) > max_length:
        return None
    labels = [t if a else -100 for t, a in zip(ids, is_target)]
    if example.untrained:
        _mask_untrained(tokenizer, messages, example, labels, first=is_target.index(True))
    return ids, labels


def _mask_untrained(tokenizer, messages, example: SFTExample, labels: list[int], first: int) -> None:
    """Set the labels of the target tokens that overlap ``example.untrained`` to -100, in place.

    ``first``: index of the assistant turn's first token. Only that turn is tokenized again
    (for character offsets), never the prompt.
    """
    reply = next(text for text, assistant in chat_segments(tokenizer, messages) if assistant)
    if not reply.startswith(example.target):
        raise ValueError("the chat template changes the assistant's text; cannot locate its untrained spans")
    offsets = tokenizer(reply, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    for i, (a, b) in enumerate(offsets):
        if any(a < end and start < b for start, end in example.untrained):
            labels[first + i] = -100


# A two-token row with nothing labelled: its loss is 0 and its gradient 0 (see train_sft's DDP note).
_NO_LOSS_ROW: tuple[list[int], list[int]] = ([0, 0], [-100, -100])


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a micro-batch into ``input_ids``, ``attention_mask`` and ``labels`` tensors."""
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, :len(ids)] = torch.tensor(ids)
        labels[i, :len(lab)] = torch.tensor(lab)
        mask[i, :len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def sft_loss(model, batch: dict[str, torch.Tensor], n_tokens: int) -> torch.Tensor:
    """Summed next-token cross-entropy over labelled tokens, divided by ``n_tokens``.

    Logits are computed only from the position before the batch's first labelled token on
    (``logits_to_keep``, where the model takes it): targets end the sequence, so the
    vocabulary projection of the prompt, the bulk of the tokens, is never built.
    """
    labels = batch["labels"]
    width = labels.shape[1]
    labelled = (labels[:, 1:] != -100).any(0)
    first = 1 + int(labelled.int().argmax()) if bool(labelled.any()) else width - 1
    keep = width - first + 1  # positions first-1 .. width-1; the last predicts nothing
    extra = {"logits_to_keep": keep} if "logits_to_keep" in forward_params(model) else {}
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **extra).logits
    return torch.nn.functional.cross_entropy(logits[:, -keep:-1].flatten(0, 1).float(), labels[:, first:].flatten(),
                                             ignore_index=-100, reduction="sum") / max(1, n_tokens)


def sft_index(store, config: SFTConfig) -> list[tuple[int, int]]:
    """``(session index, step index)`` of every step that may become an example (of
    ``config.action_types`` when set)."""
    n = len(store) if config.limit_sessions is None else min(len(store), config.limit_sessions)
    if n == 0:
        raise ValueError(f"no sessions in {store.path} (split {config.split!r})")
    if config.action_types is None:
        return [(s, k) for s in range(n) for k in range(store.n_steps(s))]
    types = config.action_types
    wanted = {types} if isinstance(types, str) else set(types)  # `--set action_types=click` gives a str
    unknown = sorted(wanted - set(ACTION_TYPES))
    if unknown:
        raise ValueError(f"action_types: unknown action type(s) {unknown}; known: {list(ACTION_TYPES)}")
    index = [(s, k) for s in range(n) for k, step in enumerate(store[s].steps) if step.action.type in wanted]
    if not index:
        raise ValueError(f"no step of type {sorted(wanted)} in {store.path} (split {config.split!r})")
    return index


def _builder(config: SFTConfig, tokenizer) -> PromptBuilder:
    return PromptBuilder(context=config.context, max_chars=config.max_chars, max_tokens=config.max_prompt_tokens,
                         tokenizer=tokenizer if config.max_prompt_tokens is not None else None,
                         include_persona=config.include_persona)


def train_sft(config: SFTConfig) -> Path:
    """Run SFT; return ``OUT/final`` (a ``from_pretrained``-loadable model + tokenizer).

    Seeds Python's, NumPy's and torch's global generators with ``config.seed`` first (as
    Hugging Face's ``Trainer`` does: dropout draws from them); the caller's state is not kept.
    """
    from shop_env.data.store import open_store
    from shop_env.paths import sample_data_dir

    check_cut_targets(config.cut_targets)
    out = Path(config.out)
    runtime = Runtime(config.device)
    seed_everything(config.seed)
    lora = coerce_lora(config.lora)
    store = open_store(config.data or sample_data_dir(), split=config.split)
    examples = sft_index(store, config)
    n_examples = len(examples)
    per_step = config.batch_size * config.grad_accum * runtime.world_size
    total = config.max_steps or max(1, math.ceil(n_examples * config.epochs / per_step))

    ckpt = start_checkpoints(runtime, out, config.resume)
    if ckpt is not None and lora is not None:
        model, tokenizer = load_for_training(config.model, runtime, adapter_dir=ckpt / "model",
                                             gradient_checkpointing=config.gradient_checkpointing, dtype=config.dtype)
    else:
        model, tokenizer = load_for_training(ckpt / "model" if ckpt else config.model, runtime, lora=lora,
                                             gradient_checkpointing=config.gradient_checkpointing, dtype=config.dtype)
    builder = _builder(config, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    warmup = int(config.warmup_ratio * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config.lr_schedule, warmup, total))
    start = restore_trainer(ckpt, optimizer, scheduler)["step"] if ckpt else 0
    model, optimizer = runtime.prepare(model, optimizer)
    log = MetricLog(out, tensorboard=config.tensorboard, enabled=runtime.is_main)
    log.truncate_after(start)

    bar = tqdm(total=total, initial=start, desc="sft", disable=not (config.progress and runtime.is_main))
    for step in range(start + 1, total + 1):
        first = (step - 1) * per_step + runtime.rank * config.batch_size * config.grad_accum
        idx = indices_for(first, config.batch_size * config.grad_accum, n_examples, config.seed)
        picked = [sft_example_at(store[examples[i][0]], examples[i][1], builder, config.cut_targets) for i in idx]
        rows = [r for r in (tokenize_example(tokenizer, e, config.max_length) for e in picked if e) if r]
        skipped = len(idx) - len(rows)
        n_tokens = sum(sum(1 for t in lab[1:] if t != -100) for _, lab in rows)
        loss_sum = 0.0
        # Under DDP every backward is a collective, so every process runs as many
        # micro-batches as the busiest one; a process that skipped more examples fills in
        # with loss-free ones (zero gradient, the same all-reduces).
        n_micro = runtime.max(-(-len(rows) // config.batch_size))
        for k in range(n_micro):
            chunk = rows[k * config.batch_size:(k + 1) * config.batch_size]
            batch = {key: v.to(runtime.device) for key, v in collate(chunk or [_NO_LOSS_ROW], pad_id).items()}
            with runtime.autocast():
                loss = sft_loss(model, batch, n_tokens)
            runtime.backward(loss)
            loss_sum += float(loss.detach())
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
        lr = scheduler.get_last_lr()[0]  # the rate this step's update uses
        if n_micro:  # a step whose every example was skipped (on every process) leaves the weights alone
            optimizer.step()
            scheduler.step()
        else:  # the schedule still advances, so step numbers and learning rates stay aligned
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
                scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        scalars = {"train/loss": runtime.mean(loss_sum), "train/grad_norm": grad_norm,
                   "train/lr": lr, "train/assistant_tokens": float(n_tokens), "train/skipped": float(skipped)}
        log.log(step, scalars)
        bar.update(1)
        bar.set_postfix(loss=f"{scalars['train/loss']:.4f}")
        maybe_checkpoint(runtime, config, "sft", out, step, total, model, tokenizer, optimizer, scheduler)
    return finish_training(runtime, out, model, tokenizer, bar, log)
