"""Batched ancestral sampling with a KV cache that also records what the trainers need.

One forward pass per new token. From the logits of that pass it takes the sampled token,
its log-probability under the sampling distribution, and (optionally) the token's
self-certainty from the *raw* logits, so no second forward pass is ever needed. Only
``[N, T]`` arrays are kept, never ``[N, T, V]`` logits, so memory does not grow with the
vocabulary (HF ``generate(output_logits=True)`` would store ``T x N x V`` floats).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

from agents.self_certainty import token_self_certainty

__all__ = ["SampleBatch", "sample_tokens", "top_p_filter", "forward_params"]


@dataclass
class SampleBatch:
    """Output of :func:`sample_tokens` (row ``i`` continues prompt row ``i``).

    ``tokens`` ``[N, T]`` (``pad_id`` after a row stops), ``mask`` ``[N, T]`` (1 up to and
    including the stop token), ``logprobs`` ``[N, T]`` of each sampled token under the
    tempered distribution before top-p truncation, ``token_self_certainty`` ``[N, T]`` from
    the raw logits (zeros when not requested), ``finished`` ``[N]`` (True when a stop token
    was produced, False when ``max_new_tokens`` ran out).
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    logprobs: torch.Tensor
    token_self_certainty: torch.Tensor
    finished: torch.Tensor


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Set to ``-inf`` the logits outside the smallest set whose probability reaches ``top_p``."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs  # mass strictly before each token
    drop_sorted = before >= top_p
    drop_sorted[..., 0] = False  # always keep the most likely token
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def forward_params(model) -> set[str]:
    """Names of the keyword arguments of the (base) model's ``forward``."""
    base = getattr(model, "module", model)  # DDP wrapper
    base = base.get_base_model() if hasattr(base, "get_base_model") else base
    try:
        return set(inspect.signature(base.forward).parameters)
    except (TypeError, ValueError):
        return set()


@torch.no_grad()
def sample_tokens(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, *,
                  max_new_tokens: int, stop_ids: list[int], pad_id: int, temperature: float = 0.6,
                  top_p: float = 1.0, generator: torch.Generator | None = None,
                  with_self_certainty: bool = True) -> SampleBatch:
    """Sample continuations of left-padded prompts ``input_ids [N, P]``.

    ``temperature == 0`` means greedy decoding. Sampling uses ``generator`` (seeded by the
    caller) so a run is reproducible.
    """
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be >= 1")
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    n, device = input_ids.shape[0], input_ids.device
    stop = torch.tensor(sorted(set(stop_ids)), device=device, dtype=torch.long)
    params = forward_params(model)
    extra = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
    cache_arg = "cache" if "cache" in params else "past_key_values"  # transformers 5 renamed it
    attn = attention_mask.long()
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    cur_ids, cur_pos, past = input_ids, pos, None
    done = torch.zeros(n, dtype=torch.bool, device=device)
    toks, lps, scs, alive = [], [], [], []
    for _ in range(max_new_tokens):
        out = model(input_ids=cur_ids, attention_mask=attn, position_ids=cur_pos,
                    use_cache=True, **{cache_arg: past}, **extra)
        past = out.cache if cache_arg == "cache" else out.past_key_values
        z = out.logits[:, -1, :].float()
        if with_self_certainty:
            scs.append(token_self_certainty(z))
        if temperature == 0:
            logp = torch.log_softmax(z, dim=-1)
            nxt = z.argmax(dim=-1)
        else:
            logp = torch.log_softmax(z / temperature, dim=-1)
            probs = torch.softmax(top_p_filter(z / temperature, top_p), dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        alive.append(~done)
        lps.append(logp.gather(-1, nxt[:, None]).squeeze(-1))
        nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        toks.append(nxt)
        done = done | torch.isin(nxt, stop)
        if bool(done.all()):
            break
        attn = torch.cat([attn, torch.ones_like(attn[:, :1])], dim=-1)
        cur_ids, cur_pos = nxt[:, None], cur_pos[:, -1:] + 1
    mask = torch.stack(alive, dim=1)
    zeros = torch.zeros(n, len(toks), device=device)
    return SampleBatch(
        tokens=torch.stack(toks, dim=1),
        mask=mask.long(),
        logprobs=torch.stack(lps, dim=1) * mask,
        token_self_certainty=(torch.stack(scs, dim=1) * mask) if with_self_certainty else zeros,
        finished=done,
    )
