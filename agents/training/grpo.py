"""GRPO for Shop-R1 (SPEC "Reward" Eq. 4 and "Training recipe" 2).

Each step takes ``prompts_per_step`` (context, next action) pairs from the session store
(prompts from :func:`rl_prompts`, the environment's prompt builder), samples ``num_generations`` outputs per
prompt with :class:`agents.llm.LLMAgent`, and scores each with::

    r = compute_reward(text, gold).total + alpha * self_certainty(rationale)

**Decision**: the self-certainty bonus is added only when the output parses (valid
format); otherwise a confident but malformed output would still be paid. Advantages are
group-normalised, ``(r - mean_group) / (std_group + 1e-4)`` (population std; ``scale_rewards=False``
keeps only the centring). The loss per completion token is the clipped surrogate
``-min(rho * A, clip(rho, 1-eps, 1+eps) * A) + beta * k3`` with ``rho = pi/pi_old`` and the
k3 estimator ``k3 = exp(ref - logp) - (ref - logp) - 1`` of KL(pi || pi_ref) against the
frozen starting policy; token losses are averaged per sequence, then over sequences
(``loss_type="token_mean"`` averages over all tokens instead). Log-probabilities in the
loss use the temperature-scaled logits (the distribution that was sampled), as TRL and
verl do. Self-certainty uses the raw logits (see :mod:`agents.self_certainty`).

Data order and sampling seeds are pure functions of ``(seed, step)``, and checkpoints store
optimizer, scheduler and RNG states, so a resumed run continues at the same step with the
same prompts and samples as an uninterrupted one.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from agents.llm import LLMAgent
from agents.sampling import forward_params
from agents.training.utils import (MetricLog, Runtime, coerce_lora, derived_seed, indices_for,
                                latest_checkpoint, load_for_training, load_frozen, lr_lambda, restore_trainer,
                                finish_training, maybe_checkpoint, seed_everything)

__all__ = ["GRPOConfig", "train_grpo", "group_advantages", "k3_kl", "policy_loss", "rl_examples", "rl_prompts"]


@dataclass
class GRPOConfig:
    """GRPO settings. Defaults follow the paper (lr 1e-7, T=0.6, beta 1e-3, alpha 5e-3, 500 steps;
    global batch 64 = 8 prompts x 8 samples)."""

    model: str
    out: str = "outputs/grpo"
    data: str | None = None             # session store dir; None = the embedded sample
    split: str = "train"
    reward: Any = "shop_r1"             # RewardConfig preset name, dict of fields, or RewardConfig
    alpha: float | None = None          # None = reward.rationale_weight (0.005, or 0 when off)
    beta: float | None = None           # None = reward.kl_beta (0.001)
    num_generations: int = 8
    prompts_per_step: int = 8
    max_steps: int = 500
    lr: float = 1e-7
    temperature: float = 0.6
    top_p: float = 1.0
    max_new_tokens: int = 256
    max_prompt_tokens: int | None = None  # prompt budget in tokens (as the env's max_tokens, with this tokenizer)
    context: str = "whole_session"
    max_chars: int | None = None        # prompt budget in characters (as the env's max_chars)
    include_persona: bool = True
    clip_eps: float = 0.2
    num_iterations: int = 1             # policy updates per batch of samples
    micro_batch_size: int = 8           # sequences per forward/backward
    scale_rewards: bool = True
    loss_type: str = "sequence_mean"    # or "token_mean"
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    action_types: list[str] | None = None  # keep only steps whose gold type is listed
    max_step_index: int | None = None      # keep only steps with index <= this
    limit_examples: int | None = None
    seed: int = 0
    save_every: int = 50
    save_total_limit: int = 2
    device: str = "auto"
    dtype: str = "auto"
    gradient_checkpointing: bool = False
    lora: Any = None
    resume: bool = True
    tensorboard: bool = True
    progress: bool = True


def reward_config(value):
    """A ``RewardConfig`` from a preset name, a dict of fields, or itself."""
    from shop_env.reward import RewardConfig

    if isinstance(value, RewardConfig):
        return value
    if isinstance(value, str):
        return RewardConfig.preset(value)
    if isinstance(value, dict):
        value = dict(value)
        preset = value.pop("preset", "shop_r1")
        return RewardConfig.preset(preset, **value)
    raise TypeError(f"reward must be a preset name, a dict or a RewardConfig, got {type(value).__name__}")


def group_advantages(rewards: torch.Tensor, group_size: int, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """``(r - group mean) / (group std + eps)`` for rewards ``[N]`` laid out in groups of ``group_size``."""
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    g = rewards.float().view(-1, group_size)
    centred = g - g.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (g.std(dim=1, unbiased=False, keepdim=True) + eps)
    return centred.view(-1)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(pi || ref): ``exp(ref - logp) - (ref - logp) - 1`` (>= 0)."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor | None,
                advantages: torch.Tensor, mask: torch.Tensor, *, clip_eps: float, beta: float,
                loss_type: str = "sequence_mean") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped GRPO loss (summed over sequences, not yet divided by their number) and stats.

    ``logp``/``old_logp``/``ref_logp``/``mask``: ``[N, T]``; ``advantages``: ``[N]``. With
    ``loss_type="sequence_mean"`` the return is ``sum_i mean_t(loss_it)``; with
    ``"token_mean"`` it is ``sum_{i,t} loss_it`` (the caller divides by the count).
    """
    m = mask.float()
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None]
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    per_token = -surrogate
    kl = k3_kl(logp, ref_logp) if ref_logp is not None else torch.zeros_like(logp)
    if ref_logp is not None and beta:
        per_token = per_token + beta * kl
    if loss_type == "sequence_mean":
        loss = ((per_token * m).sum(1) / m.sum(1).clamp(min=1)).sum()
    elif loss_type == "token_mean":
        loss = (per_token * m).sum()
    else:
        raise ValueError(f"loss_type must be sequence_mean or token_mean, got {loss_type!r}")
    clipped = ((ratio - 1).abs() > clip_eps).float()
    stats = {"kl_sum": (kl.detach() * m).sum(), "clip_sum": (clipped * m).sum(), "tokens": m.sum()}
    return loss, stats


def rl_examples(store, config: GRPOConfig) -> list[tuple[int, int]]:
    """``(session index, step index)`` pairs to train on, after the config's filters."""
    pairs: list[tuple[int, int]] = []
    for s in range(len(store)):
        n = store.n_steps(s)
        steps = range(n if config.max_step_index is None else min(n, config.max_step_index + 1))
        if config.action_types is not None:
            session = store[s]
            steps = [k for k in steps if session.steps[k].action.type in config.action_types]
        pairs += [(s, k) for k in steps]
        if config.limit_examples is not None and len(pairs) >= config.limit_examples:
            return pairs[:config.limit_examples]
    if not pairs:
        raise ValueError(f"no RL examples in {store.path} after filters")
    return pairs


def rl_prompts(store, picked: list[tuple[int, int]], config: GRPOConfig, tokenizer) -> tuple[list, list]:
    """``(messages, gold actions)`` of ``(session, step)`` pairs: the environment's prompts for the same settings.

    Over-long prompts are fitted by :class:`shop_env.prompts.PromptBuilder` (system prompt,
    persona, history and current page kept, oldest pages dropped first), never cut from the left.
    """
    from shop_env.prompts import PromptBuilder

    builder = PromptBuilder(context=config.context, max_chars=config.max_chars, max_tokens=config.max_prompt_tokens,
                            tokenizer=tokenizer if config.max_prompt_tokens else None,
                            include_persona=config.include_persona)
    messages, golds = [], []
    for s, k in picked:
        session = store[s]
        messages.append(builder.build(session, k).messages)
        golds.append(session.steps[k].action)
    return messages, golds


def _completion_logps(model, prompt_ids, prompt_mask, tokens, comp_mask, temperature: float, with_entropy=False):
    """Log-probs ``[n, T]`` of ``tokens`` under ``model`` (tempered), optionally entropies."""
    ids = torch.cat([prompt_ids, tokens], dim=1)
    attn = torch.cat([prompt_mask, comp_mask], dim=1)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    T = tokens.shape[1]
    extra = {"logits_to_keep": T + 1} if "logits_to_keep" in forward_params(model) else {}
    logits = model(input_ids=ids, attention_mask=attn, position_ids=pos, **extra).logits
    z = logits[:, -(T + 1):-1].float() / max(temperature, 1e-6)
    logp_all = torch.log_softmax(z, dim=-1)
    logp = logp_all.gather(-1, tokens[..., None]).squeeze(-1)
    ent = -(logp_all.exp() * logp_all).sum(-1) if with_entropy else None
    return logp, ent


def _score(gens, golds, rcfg, alpha: float):
    from shop_env.reward import score_output

    rows = []
    for g, gold in zip(gens, golds):
        score = score_output(g.text, gold, rcfg)
        parsed, br = score.parsed, score.reward
        bonus = alpha * g.self_certainty if parsed.ok else 0.0
        rows.append({"reward": br.total + bonus, "format": br.format, "type": br.type,
                     "attribute": br.attribute, "value": br.value, "env_total": br.total,
                     "self_certainty": g.self_certainty, "valid": float(parsed.ok),
                     "exact_match": float(score.exact_match), "type_match": float(score.type_match),
                     "length": float(len(g.token_ids)), "truncated": float(g.finish_reason == "length")})
    return rows


def train_grpo(config: GRPOConfig) -> Path:
    """Run GRPO; return ``OUT/final`` (a ``from_pretrained``-loadable model + tokenizer)."""
    from shop_env.data.store import open_store
    from shop_env.paths import sample_data_dir
    out = Path(config.out)
    runtime = Runtime(config.device)
    seed_everything(config.seed)
    rcfg = reward_config(config.reward)
    alpha = rcfg.rationale_weight if config.alpha is None else config.alpha
    beta = rcfg.kl_beta if config.beta is None else config.beta
    G = config.num_generations
    store = open_store(config.data or sample_data_dir(), split=config.split)
    examples = rl_examples(store, config)

    lora = coerce_lora(config.lora)
    ckpt = latest_checkpoint(out) if config.resume else None
    load_kw = dict(gradient_checkpointing=config.gradient_checkpointing, dtype=config.dtype)
    if ckpt is not None and lora is not None:
        model, tokenizer = load_for_training(config.model, runtime, adapter_dir=ckpt / "model", **load_kw)
    else:
        model, tokenizer = load_for_training(ckpt / "model" if ckpt else config.model, runtime, lora=lora, **load_kw)
    ref = load_frozen(config.model, runtime.device) if beta and lora is None else None
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(config.lr_schedule, config.warmup_steps, config.max_steps))
    start = restore_trainer(ckpt, optimizer, scheduler)["step"] if ckpt else 0
    model, optimizer = runtime.prepare(model, optimizer)
    agent = LLMAgent(runtime.unwrap(model), tokenizer, temperature=config.temperature, top_p=config.top_p,
                     max_new_tokens=config.max_new_tokens, seed=config.seed)
    log = MetricLog(out, tensorboard=config.tensorboard, enabled=runtime.is_main)
    log.truncate_after(start)
    per_rank = config.prompts_per_step
    history = _history(out, start) if runtime.is_main else None

    bar = tqdm(total=config.max_steps, initial=start, desc="grpo", disable=not (config.progress and runtime.is_main))
    for step in range(start + 1, config.max_steps + 1):
        t0 = time.perf_counter()
        first = (step - 1) * per_rank * runtime.world_size + runtime.rank * per_rank
        picked = [examples[i] for i in indices_for(first, per_rank, len(examples), config.seed)]
        prompts, gold_actions = rl_prompts(store, picked, config, tokenizer)
        golds = [g for g in gold_actions for _ in range(G)]
        gen = torch.Generator(device=runtime.device).manual_seed(derived_seed(config.seed, step, runtime.rank))
        with runtime.autocast():
            prompt_ids, prompt_mask, batch, gens = agent.sample(prompts, G, generator=gen)
        scored = _score(gens, golds, rcfg, alpha)
        rewards = torch.tensor([r["reward"] for r in scored], device=runtime.device)
        adv = group_advantages(rewards, G, config.scale_rewards)
        stats = _update(model, ref, optimizer, params, prompt_ids, prompt_mask, batch, adv, beta, config, runtime)
        scheduler.step()
        seconds = time.perf_counter() - t0
        n_completion = float(batch.mask.sum())

        scalars = {f"reward/{k}": runtime.mean(sum(r[k] for r in scored) / len(scored))
                   for k in ("reward", "env_total", "format", "type", "attribute", "value", "self_certainty")}
        scalars.update({f"rollout/{k}": runtime.mean(sum(r[k] for r in scored) / len(scored))
                        for k in ("exact_match", "type_match", "valid", "length", "truncated")})
        scalars.update({"reward/std": float(rewards.std(unbiased=False)), "train/lr": scheduler.get_last_lr()[0],
                        **{f"train/{k}": runtime.mean(v) for k, v in stats.items()},
                        "perf/step_seconds": seconds, "perf/completion_tokens": n_completion,
                        "perf/completion_tokens_per_s": n_completion / max(seconds, 1e-9)})
        log.log(step, {**scalars, "data/first_example": float(first)})
        if runtime.is_main:
            history(step, picked)
        bar.update(1)
        bar.set_postfix(reward=f"{scalars['reward/reward']:.3f}", kl=f"{scalars['train/kl']:.4f}",
                        em=f"{scalars['rollout/exact_match']:.2f}")
        maybe_checkpoint(runtime, config, "grpo", out, step, config.max_steps, model, tokenizer, optimizer, scheduler)
    return finish_training(runtime, out, model, tokenizer, bar, log)


def _update(model, ref, optimizer, params, prompt_ids, prompt_mask, batch, adv, beta, config, runtime) -> dict[str, float]:
    """``num_iterations`` optimizer steps on one batch of samples; returns averaged stats."""
    n, mb = prompt_ids.shape[0], config.micro_batch_size
    chunks = [slice(i, min(n, i + mb)) for i in range(0, n, mb)]
    tokens, cmask = batch.tokens, batch.mask
    with torch.no_grad(), runtime.autocast():
        ref_lp = None
        if ref is not None or (beta and hasattr(runtime.unwrap(model), "disable_adapter")):
            ref_lp = torch.cat([_ref_logps(model, ref, runtime, prompt_ids[c], prompt_mask[c], tokens[c], cmask[c],
                                           config.temperature) for c in chunks])
        old_lp = None
        if config.num_iterations > 1:
            old_lp = torch.cat([_completion_logps(model, prompt_ids[c], prompt_mask[c], tokens[c], cmask[c],
                                                  config.temperature)[0] for c in chunks])
    denom = float(cmask.sum()) if config.loss_type == "token_mean" else float(n)
    totals = {"loss": 0.0, "kl_sum": 0.0, "clip_sum": 0.0, "tokens": 0.0, "entropy_sum": 0.0, "grad_norm": 0.0}
    for _ in range(config.num_iterations):
        for c in chunks:
            with runtime.autocast():
                lp, ent = _completion_logps(model, prompt_ids[c], prompt_mask[c], tokens[c], cmask[c],
                                            config.temperature, with_entropy=True)
                old = lp.detach() if old_lp is None else old_lp[c]
                loss, st = policy_loss(lp, old, None if ref_lp is None else ref_lp[c], adv[c], cmask[c],
                                       clip_eps=config.clip_eps, beta=beta, loss_type=config.loss_type)
            runtime.backward(loss / denom)
            totals["loss"] += float(loss.detach()) / denom
            totals["entropy_sum"] += float((ent.detach() * cmask[c]).sum())
            for k in ("kl_sum", "clip_sum", "tokens"):
                totals[k] += float(st[k])
        totals["grad_norm"] += float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    it, tok = config.num_iterations, max(totals["tokens"], 1.0)
    return {"loss": totals["loss"] / it, "kl": totals["kl_sum"] / tok, "entropy": totals["entropy_sum"] / tok,
            "clip_fraction": totals["clip_sum"] / tok, "grad_norm": totals["grad_norm"] / it}


def _ref_logps(model, ref, runtime, prompt_ids, prompt_mask, tokens, cmask, temperature):
    if ref is not None:
        return _completion_logps(ref, prompt_ids, prompt_mask, tokens, cmask, temperature)[0]
    with runtime.unwrap(model).disable_adapter():  # LoRA: the base weights are the reference
        return _completion_logps(model, prompt_ids, prompt_mask, tokens, cmask, temperature)[0]


def _history(out: Path, start: int):
    """Appender for ``out/history.jsonl`` (which (session, step) pairs each training step used).

    Lines past ``start`` (logged by a killed run after its last checkpoint) are dropped first.
    """
    path = out / "history.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    if path.exists():
        keep = [ln for ln in path.read_text(encoding="utf-8").splitlines()
                if ln.strip() and json.loads(ln)["step"] <= start]
        path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")

    def append(step: int, picked: list[tuple[int, int]]) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, "examples": [list(p) for p in picked]}) + "\n")
    return append
