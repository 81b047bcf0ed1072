"""The GRPO update: advantages, the clipped loss with k3 KL, and the forward passes it needs.

Every forward here runs one prompt's rows at a time: ``[prompt, completion_i]`` with the
completions right-padded, so causal attention alone is correct (padding only follows real
tokens) and no attention mask is built; SDPA's memory-efficient causal kernel runs and
memory grows linearly with the prompt length. Logits are kept for the completion
positions only (``logits_to_keep``). Entropy and self-certainty are computed from detached
logits under ``torch.no_grad`` and never enter the autograd graph.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from agents.sampling import forward_params
from agents.self_certainty import token_self_certainty

__all__ = ["group_advantages", "scale_mode", "SCALE_MODES", "k3_kl", "policy_loss", "RowChunk", "row_chunks",
           "completion_forward", "forward_self_certainty", "update"]


SCALE_MODES = ("group", "batch", "none")


def scale_mode(scale: bool | str) -> str:
    """``"group"``, ``"batch"`` or ``"none"`` (``True``/``False`` mean ``"group"``/``"none"``)."""
    if scale is True or scale is False:
        return "group" if scale else "none"
    if scale not in SCALE_MODES:
        raise ValueError(f"scale_rewards must be one of {list(SCALE_MODES)} (or a bool), got {scale!r}")
    return scale


def group_advantages(rewards: torch.Tensor, group_size: int, scale: bool | str = "group", eps: float = 1e-4,
                     batch_std: float | None = None) -> torch.Tensor:
    """Group-centred rewards ``[N]`` (laid out in groups of ``group_size``), divided by a std.

    ``scale="group"`` (GRPO) divides by each group's std; ``"batch"`` by the std of all the
    rewards (``batch_std`` when given, e.g. over every process), so a group whose samples
    differ only by a small bonus keeps small advantages; ``"none"`` only centres.
    """
    mode = scale_mode(scale)
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    g = rewards.float().view(-1, group_size)
    centred = g - g.mean(dim=1, keepdim=True)
    if mode == "group":
        centred = centred / (g.std(dim=1, unbiased=False, keepdim=True) + eps)
    elif mode == "batch":
        std = float(g.std(unbiased=False)) if batch_std is None else batch_std
        centred = centred / (std + eps)
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
    with torch.no_grad():
        clipped = ((ratio - 1).abs() > clip_eps).float()
        stats = {"kl_sum": (kl * m).sum(), "clip_sum": (clipped * m).sum(), "tokens": m.sum()}
    return loss, stats


@dataclass
class RowChunk:
    """Rows ``rows`` of a batch, all continuing ``prompt``; completions cut to ``T`` tokens."""

    prompt: torch.Tensor
    rows: slice
    T: int


def row_chunks(prompts: list[torch.Tensor], mask: torch.Tensor, num_samples: int, rows: int) -> list[RowChunk]:
    """Split each prompt's ``num_samples`` rows into chunks of at most ``rows`` (never across prompts)."""
    rows = max(1, min(rows, num_samples))
    out = []
    for j, prompt in enumerate(prompts):
        for a in range(j * num_samples, (j + 1) * num_samples, rows):
            s = slice(a, min((j + 1) * num_samples, a + rows))
            out.append(RowChunk(prompt, s, max(1, int(mask[s].sum(1).max()))))
    return out


def completion_forward(model, chunk: RowChunk, tokens: torch.Tensor, temperature: float, *,
                       with_stats: bool = False):
    """Log-probs ``[k, T]`` of the chunk's completion tokens under ``model`` (tempered logits).

    With ``with_stats`` also returns, without autograd, the entropy of the tempered
    distribution and the self-certainty of the raw logits per position (else ``None``).
    """
    T, k = chunk.T, chunk.rows.stop - chunk.rows.start
    toks = tokens[chunk.rows, :T]
    ids = torch.cat([chunk.prompt[None].expand(k, -1), toks], dim=1)
    pos = torch.arange(ids.shape[1], device=ids.device)[None].expand(k, -1)
    extra = {"logits_to_keep": T + 1} if "logits_to_keep" in forward_params(model) else {}
    logits = model(input_ids=ids, position_ids=pos, use_cache=False, **extra).logits[:, -(T + 1):-1]
    logp_all = torch.log_softmax(logits.float() / max(temperature, 1e-6), dim=-1)
    logp = logp_all.gather(-1, toks[..., None]).squeeze(-1)
    if not with_stats:
        return logp, None, None
    with torch.no_grad():
        lp = logp_all.detach()
        entropy = -(lp.exp() * lp).sum(-1)
        certainty = token_self_certainty(logits.detach())
    return logp, entropy, certainty


@torch.no_grad()
def forward_self_certainty(model, chunks: list[RowChunk], tokens: torch.Tensor, mask: torch.Tensor,
                           temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token self-certainty and tempered log-probs ``[N, T]`` from the training model's own forward.

    For generators that give no logits (vLLM): the trainer's model scores the sampled tokens
    before its update, which with one update per batch is the policy that sampled them.
    """
    sc = torch.zeros(tokens.shape, device=tokens.device)
    lp = torch.zeros(tokens.shape, device=tokens.device)
    for c in chunks:
        logp, _, cert = completion_forward(model, c, tokens, temperature, with_stats=True)
        m = mask[c.rows, :c.T].float()
        sc[c.rows, :c.T] = cert * m
        lp[c.rows, :c.T] = logp * m
    return sc, lp


def update(model, ref, optimizer, params, chunks: list[RowChunk], tokens: torch.Tensor, mask: torch.Tensor,
           adv: torch.Tensor, *, beta: float, config, runtime, old_logps: torch.Tensor | None = None) -> dict[str, float]:
    """``config.num_iterations`` optimizer steps on one batch of samples; returns averaged stats.

    ``ref`` is the frozen reference model (``None``: none, or, for a LoRA policy, its
    adapter-free base). ``old_logps [N, T]`` (optional) are the sampling policy's log-probs.
    """
    use_ref = ref is not None or bool(beta and hasattr(runtime.unwrap(model), "disable_adapter"))
    with torch.no_grad(), runtime.autocast():
        ref_lp = [_ref_logps(model, ref, runtime, c, tokens, config.temperature) for c in chunks] if use_ref else None
        if old_logps is not None:
            old_lp = [old_logps[c.rows, :c.T] for c in chunks]
        elif config.num_iterations > 1:
            old_lp = [completion_forward(model, c, tokens, config.temperature)[0] for c in chunks]
        else:
            old_lp = None
    n = tokens.shape[0]
    denom = float(mask.sum()) if config.loss_type == "token_mean" else float(n)
    totals = {"loss": 0.0, "kl_sum": 0.0, "clip_sum": 0.0, "tokens": 0.0, "entropy_sum": 0.0, "grad_norm": 0.0}
    for _ in range(config.num_iterations):
        for i, c in enumerate(chunks):
            cmask = mask[c.rows, :c.T]
            with runtime.autocast():
                lp, ent, _ = completion_forward(model, c, tokens, config.temperature, with_stats=True)
                old = lp.detach() if old_lp is None else old_lp[i]
                loss, st = policy_loss(lp, old, None if ref_lp is None else ref_lp[i], adv[c.rows], cmask,
                                       clip_eps=config.clip_eps, beta=beta, loss_type=config.loss_type)
            runtime.backward(loss / denom)
            totals["loss"] += float(loss.detach()) / denom
            totals["entropy_sum"] += float((ent * cmask).sum())
            for k in ("kl_sum", "clip_sum", "tokens"):
                totals[k] += float(st[k])
        totals["grad_norm"] += float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    it, tok = config.num_iterations, max(totals["tokens"], 1.0)
    return {"loss": totals["loss"] / it, "kl": totals["kl_sum"] / tok, "entropy": totals["entropy_sum"] / tok,
            "clip_fraction": totals["clip_sum"] / tok, "grad_norm": totals["grad_norm"] / it}


def _ref_logps(model, ref, runtime, chunk: RowChunk, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    if ref is not None:
        return completion_forward(ref, chunk, tokens, temperature)[0]
    with runtime.unwrap(model).disable_adapter():  # LoRA: the base weights are the reference
        return completion_forward(model, chunk, tokens, temperature)[0]
