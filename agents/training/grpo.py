"""GRPO for Shop-R1 (SPEC "Reward" Eq. 4 and "Training recipe" 2).

Each step takes ``prompts_per_step`` (context, next action) pairs from the session store
(prompts from :func:`rl_prompts`, the environment's prompt builder), samples ``num_generations`` outputs per
prompt with :class:`agents.llm.LLMAgent`, and scores each with::

    r = compute_reward(text, gold).total + alpha * self_certainty(rationale)

**Decision**: the self-certainty bonus is added only when the output parses (valid
format); otherwise a confident but malformed output would still be paid. Advantages are
group-normalised, ``(r - mean_group) / (std_group + 1e-4)`` (population std;
``scale_rewards="batch"`` divides by the std of the whole batch instead, ``"none"`` only
centres). The loss per completion token is the clipped surrogate
``-min(rho * A, clip(rho, 1-eps, 1+eps) * A) + beta * k3`` with ``rho = pi/pi_old`` and the
k3 estimator ``k3 = exp(ref - logp) - (ref - logp) - 1`` of KL(pi || pi_ref) against the
frozen starting policy; token losses are averaged per sequence, then over sequences
(``loss_type="token_mean"`` averages over all tokens instead). Log-probabilities in the
loss use the temperature-scaled logits (the distribution that was sampled), as TRL and
verl do. Self-certainty uses the raw logits (see :mod:`agents.self_certainty`).

Memory grows linearly with the prompt length: each prompt is prefilled once and its KV
cache shared by its ``num_generations`` samples, at most ``generation_rows`` rows decode at
once, and the loss runs one prompt's rows at a time without padding masks
(:mod:`agents.training.grpo_update`). ``generation_backend="vllm"`` samples with vLLM on a
GPU instead; the self-certainty then comes from the trainer's own forward pass.

Data order and sampling seeds are pure functions of ``(seed, step)``, and checkpoints store
optimizer, scheduler and RNG states, so a resumed run continues at the same step with the
same prompts and samples as an uninterrupted one.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import torch
from tqdm.auto import tqdm

from agents.llm import LLMAgent, Rollout
from agents.training.grpo_update import (forward_self_certainty, group_advantages, k3_kl, policy_loss, scale_mode,
                                         row_chunks, update)
from agents.training.utils import (LoraSpec, MetricLog, Runtime, coerce_lora, derived_seed, indices_for,
                                load_for_training, load_frozen, lr_lambda, restore_trainer, start_checkpoints,
                                finish_training, maybe_checkpoint, seed_everything)
from shop_env.reward import RewardConfig

__all__ = ["GRPOConfig", "train_grpo", "group_advantages", "k3_kl", "policy_loss", "rl_examples", "rl_prompts"]

#: A reward preset name, a dict of ``RewardConfig`` fields (optionally with ``"preset"``), or a ``RewardConfig``.
RewardSpec = Union[str, dict[str, Union[str, float, bool]], RewardConfig]


@dataclass
class GRPOConfig:
    r"""Settings of :func:`train_grpo`. Defaults follow the paper (arXiv 2507.17842, section 4.1 and
    appendix; SPEC "Training recipe" 2) unless marked *ours*.

    Parameters:
        > Model and data

        model (`str`):
            Directory (or hub name already in the local cache) of the starting policy, usually the
            SFT output. Also the frozen reference policy of the KL term.
        out (`str`, *optional*, defaults to `"outputs/grpo"`):
            Output directory: checkpoints, `metrics.jsonl`, `history.jsonl`, TensorBoard `tb/`, `final/`.
        data (`str` or `None`, *optional*, defaults to `None`):
            Session store directory; `None` uses the embedded sample.
        split (`str`, *optional*, defaults to `"train"`):
            Store split to train on (`"train"`, `"test"` or `"all"`).
        context (`str`, *optional*, defaults to `"whole_session"`):
            Prompt context mode of `shop_env.prompts.PromptBuilder` (paper: the whole session so far).
        max_chars (`int` or `None`, *optional*, defaults to `None`):
            Character budget of a prompt (the oldest pages go first); `None` = no character budget.
        max_prompt_tokens (`int` or `None`, *optional*, defaults to `None`):
            Token budget of a prompt, counted with the tokenizer (paper: 32,000); `None` = no budget.
        include_persona (`bool`, *optional*, defaults to `True`):
            Show the shopper's persona in the prompt, as the environment does.
        action_types (`list[str]` or `None`, *optional*, defaults to `None`):
            Keep only steps whose gold action type is listed (*ours*, for curricula and tests).
        max_step_index (`int` or `None`, *optional*, defaults to `None`):
            Keep only steps with index <= this (*ours*).
        limit_examples (`int` or `None`, *optional*, defaults to `None`):
            Use at most this many (session, step) examples (*ours*).

        > Reward

        reward (`str`, `dict` or `RewardConfig`, *optional*, defaults to `"shop_r1"`):
            Reward preset name (`shop_r1`, `binary`, `no_format`, `no_rationale`, `no_dars`,
            `binary_action`), a dict of `RewardConfig` fields (with an optional `"preset"`), or a
            `RewardConfig` (paper Table 1, Eq. 1-3).
        alpha (`float` or `None`, *optional*, defaults to `None`):
            Weight of the self-certainty bonus; `None` = the reward's (0.005, or 0 with the rationale
            reward off; paper Eq. 4).
        beta (`float` or `None`, *optional*, defaults to `None`):
            Weight of the k3 KL penalty against the starting policy; `None` = the reward's `kl_beta`
            (0.001; paper Eq. 4).
        scale_rewards (`str` or `bool`, *optional*, defaults to `"group"`):
            Divide group-centred rewards by the group's standard deviation (`"group"`, GRPO and the
            paper), by the standard deviation of the whole batch over all processes (`"batch"`), or
            not at all (`"none"`): the values TRL's `scale_rewards` takes; `True`/`False` mean
            `"group"`/`"none"`. Under `"group"`, a group whose environment rewards tie is ranked
            by the self-certainty bonus alone, at full scale; `"batch"` keeps that bonus small
            (see docs/reproduce.md).

        > Sampling

        num_generations (`int`, *optional*, defaults to `8`):
            Samples per prompt (the GRPO group size; paper: 8).
        prompts_per_step (`int`, *optional*, defaults to `8`):
            Prompts per optimizer step and process. The paper's global batch of 64 counts prompts
            (as verl's `train_batch_size` does), so its settings use 64 prompts x 8 samples; see
            `agents.training.settings` for the reasoning.
        temperature (`float`, *optional*, defaults to `0.6`):
            Sampling temperature (paper: 0.6); the loss uses the same tempered distribution.
        top_p (`float`, *optional*, defaults to `1.0`):
            Nucleus sampling mass (1.0 = off).
        max_new_tokens (`int`, *optional*, defaults to `256`):
            Maximum completion length in tokens (*ours*).
        generation_rows (`int` or `None`, *optional*, defaults to `None`):
            Rows (samples) decoded at once by the HF sampler; each prompt is prefilled once whatever
            this is. `None` = `num_generations` (one group at a time: the KV cache of 8 rows of a
            32k-token prompt is ~10 GB for Qwen2.5-3B in bf16, of 64 rows ~77 GB) (*ours*).
        generation_backend (`"hf"` or `"vllm"`, *optional*, defaults to `"hf"`):
            `"hf"`: our KV-cached sampler on the training model (records self-certainty while
            sampling). `"vllm"`: a colocated vLLM engine (GPU; `pip install 'shop-r1[vllm]'`),
            self-certainty from the trainer's forward pass, weights pushed after each step (*ours*).
        vllm_gpu_memory_utilization (`float`, *optional*, defaults to `0.3`):
            Fraction of GPU memory vLLM may take (with `generation_backend="vllm"`).

        > Optimisation

        max_steps (`int`, *optional*, defaults to `500`):
            Optimizer steps (paper: 500).
        lr (`float`, *optional*, defaults to `1e-7`):
            AdamW learning rate (paper: 1e-7).
        lr_schedule (`str`, *optional*, defaults to `"constant"`):
            `constant`, `linear` or `cosine` after warm-up.
        warmup_steps (`int`, *optional*, defaults to `0`):
            Linear warm-up steps.
        weight_decay (`float`, *optional*, defaults to `0.0`):
            AdamW weight decay.
        max_grad_norm (`float`, *optional*, defaults to `1.0`):
            Gradient clipping norm.
        clip_eps (`float`, *optional*, defaults to `0.2`):
            PPO ratio clipping range `[1 - eps, 1 + eps]`.
        num_iterations (`int`, *optional*, defaults to `1`):
            Optimizer steps per batch of samples (1 = on-policy; then the ratio is 1 and the
            self-certainty of the training forward equals the sampling-time value).
        micro_batch_size (`int`, *optional*, defaults to `8`):
            Sequences per forward/backward; a micro-batch never spans two prompts, so values above
            `num_generations` act as `num_generations`. Paper configs: 1.
        loss_type (`str`, *optional*, defaults to `"sequence_mean"`):
            `sequence_mean` (mean over each sequence's tokens, then over sequences) or `token_mean`.
        gradient_checkpointing (`bool`, *optional*, defaults to `False`):
            Recompute activations in the backward pass (memory for time). Paper configs: on.
        lora (`bool`, `dict`, `LoraSettings` or `None`, *optional*, defaults to `None`):
            LoRA adapter instead of full fine-tuning (*ours*; the paper fine-tunes fully).

        > Runtime and logging

        seed (`int`, *optional*, defaults to `0`):
            Seed of the data order and of each step's sampling.
        device (`str`, *optional*, defaults to `"auto"`):
            `auto` (CUDA when present), `cpu`, `cuda`, `cuda:1`, ...
        dtype (`str`, *optional*, defaults to `"auto"`):
            Training weights' dtype (`auto` = float32; or a torch dtype name). The reference model
            uses the same dtype, so the KL is exactly 0 at the first step.
        save_every (`int`, *optional*, defaults to `50`):
            Checkpoint every this many steps and always at the last one (so that more
            steps continue the run); 0 = only at the last one.
        save_total_limit (`int`, *optional*, defaults to `2`):
            Checkpoints kept.
        resume (`bool`, *optional*, defaults to `True`):
            Continue from `out`'s latest checkpoint when there is one.
        tensorboard (`bool`, *optional*, defaults to `True`):
            Write TensorBoard scalars to `out/tb`.
        progress (`bool`, *optional*, defaults to `True`):
            Show a tqdm progress bar.
    """

    model: str
    out: str = "outputs/grpo"
    data: str | None = None
    split: str = "train"
    reward: RewardSpec = "shop_r1"
    alpha: float | None = None
    beta: float | None = None
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
    num_iterations: int = 1
    micro_batch_size: int = 8
    generation_rows: int | None = None
    generation_backend: Literal["hf", "vllm"] = "hf"
    vllm_gpu_memory_utilization: float = 0.3
    scale_rewards: bool | str = "group"
    loss_type: str = "sequence_mean"
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    action_types: list[str] | None = None
    max_step_index: int | None = None
    limit_examples: int | None = None
    seed: int = 0
    save_every: int = 50
    save_total_limit: int = 2
    device: str = "auto"
    dtype: str = "auto"
    gradient_checkpointing: bool = False
    lora: LoraSpec = None
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


def _batch_std(rewards: torch.Tensor, runtime: Runtime) -> float:
    """Population std of the rewards of every process's batch (equal batch sizes)."""
    r = rewards.double()
    mean, mean_sq = runtime.mean(float(r.mean())), runtime.mean(float((r * r).mean()))
    return max(mean_sq - mean * mean, 0.0) ** 0.5


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
    """Run GRPO; return ``OUT/final`` (a ``from_pretrained``-loadable model + tokenizer).

    Seeds Python's, NumPy's and torch's global generators with ``config.seed`` first (as
    Hugging Face's ``Trainer`` does: dropout draws from them); the caller's state is not kept.
    """
    from shop_env.data.store import open_store
    from shop_env.paths import sample_data_dir

    if config.generation_backend not in ("hf", "vllm"):
        raise ValueError(f"generation_backend must be 'hf' or 'vllm', got {config.generation_backend!r}")
    scale = scale_mode(config.scale_rewards)
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
    ckpt = start_checkpoints(runtime, out, config.resume)
    load_kw = dict(gradient_checkpointing=config.gradient_checkpointing, dtype=config.dtype)
    if ckpt is not None and lora is not None:
        model, tokenizer = load_for_training(config.model, runtime, adapter_dir=ckpt / "model", **load_kw)
    else:
        model, tokenizer = load_for_training(ckpt / "model" if ckpt else config.model, runtime, lora=lora, **load_kw)
    policy_dtype = next(model.parameters()).dtype
    ref = load_frozen(config.model, runtime.device, dtype=policy_dtype) if beta and lora is None else None
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(config.lr_schedule, config.warmup_steps, config.max_steps))
    start = restore_trainer(ckpt, optimizer, scheduler)["step"] if ckpt else 0
    model, optimizer = runtime.prepare(model, optimizer)
    agent = LLMAgent(runtime.unwrap(model), tokenizer, temperature=config.temperature, top_p=config.top_p,
                     max_new_tokens=config.max_new_tokens, seed=config.seed,
                     max_rows=config.generation_rows or config.num_generations)
    vllm = _vllm_generator(config, agent, ckpt) if config.generation_backend == "vllm" else None
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
        step_seed = derived_seed(config.seed, step, runtime.rank)
        rollout, chunks, old_logps = _rollout(agent, vllm, model, prompts, step_seed, config, runtime)
        batch = rollout.batch
        scored = _score(rollout.generations, golds, rcfg, alpha)
        rewards = torch.tensor([r["reward"] for r in scored], device=runtime.device)
        adv = group_advantages(rewards, G, scale, batch_std=_batch_std(rewards, runtime) if scale == "batch" else None)
        stats = update(model, ref, optimizer, params, chunks, batch.tokens, batch.mask, adv, beta=beta,
                       config=config, runtime=runtime, old_logps=old_logps)
        lr = scheduler.get_last_lr()[0]  # the rate this step's update used
        scheduler.step()
        if vllm is not None:
            vllm.load_weights(runtime.unwrap(model))
        seconds = time.perf_counter() - t0
        n_completion = float(batch.mask.sum())

        scalars = {f"reward/{k}": runtime.mean(sum(r[k] for r in scored) / len(scored))
                   for k in ("reward", "env_total", "format", "type", "attribute", "value", "self_certainty")}
        scalars.update({f"rollout/{k}": runtime.mean(sum(r[k] for r in scored) / len(scored))
                        for k in ("exact_match", "type_match", "valid", "length", "truncated")})
        scalars.update({"reward/std": float(rewards.std(unbiased=False)), "train/lr": lr,
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


def _rollout(agent: LLMAgent, vllm, model, prompts, step_seed: int, config: GRPOConfig, runtime):
    """Sample ``num_generations`` outputs per prompt; return ``(rollout, loss chunks, old log-probs)``.

    With vLLM the tokens come without logits: the training model scores them (no autograd,
    before the update) for the self-certainty bonus and the old log-probabilities.
    """
    G = config.num_generations
    if vllm is None:
        gen = torch.Generator(device=runtime.device).manual_seed(step_seed)
        with runtime.autocast():
            rollout = agent.sample(prompts, G, generator=gen)
        return rollout, row_chunks(rollout.prompts, rollout.batch.mask, G, config.micro_batch_size), None
    from agents.sampling import unpad_rows

    rows = unpad_rows(*agent.encode_prompts(prompts))
    batch = vllm.sample(rows, G, seed=step_seed)
    chunks = row_chunks(rows, batch.mask, G, config.micro_batch_size)
    was_training = model.training
    model.eval()
    try:
        with runtime.autocast():
            batch.token_self_certainty, old_logps = forward_self_certainty(model, chunks, batch.tokens, batch.mask,
                                                                           config.temperature)
    finally:
        model.train(was_training)
    return Rollout(rows, batch, agent.generations(batch, G), G), chunks, old_logps


def _vllm_generator(config: GRPOConfig, agent: LLMAgent, ckpt: Path | None):
    from agents.vllm_generation import VLLMGenerator

    if coerce_lora(config.lora) is not None:
        raise ValueError("generation_backend='vllm' needs full fine-tuning (lora=None)")
    engine = VLLMGenerator(ckpt / "model" if ckpt else config.model, temperature=config.temperature,
                           top_p=config.top_p, max_new_tokens=config.max_new_tokens, stop_ids=agent.stop_ids,
                           pad_id=agent.pad_id, seed=config.seed,
                           gpu_memory_utilization=config.vllm_gpu_memory_utilization)
    return engine


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
