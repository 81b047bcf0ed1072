"""KV-cached ancestral sampling that prefills each prompt once and records what the trainers need.

Memory grows linearly with the prompt length:

* each prompt is prefilled **once**, alone (no padding, so attention needs no mask and
  SDPA's causal kernel runs), keeping only its last logits;
* its KV cache is then expanded to the rows that continue it (``num_samples`` per prompt),
  in chunks of at most ``max_rows`` rows decoded together; rows of different prompts in
  one chunk have their caches left-padded, so decoding masks are ``[rows, 1, 1, keys]``,
  never ``[rows, 1, P, P]``.

One forward pass per new token. From the logits of that pass it takes the sampled token,
its log-probability under the sampling distribution, and (optionally) the token's
self-certainty from the *raw* logits, so no second forward pass is ever needed. Only
``[N, T]`` arrays are kept, never ``[N, T, V]`` logits, so memory does not grow with the
vocabulary (HF ``generate(output_logits=True)`` would store ``T x N x V`` floats).
"""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Sequence

import torch

from agents.self_certainty import token_self_certainty

__all__ = ["SampleBatch", "sample_prompts", "sample_tokens", "top_p_filter", "forward_params"]


@dataclass
class SampleBatch:
    """Sampled continuations (row ``i`` continues prompt row ``i``, or prompt ``i // num_samples``).

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


def _cache_arg(model) -> str:
    return "cache" if "cache" in forward_params(model) else "past_key_values"  # transformers 5 renamed it


def _prefill(model, ids: torch.Tensor):
    """Forward one unpadded prompt ``[P]``; return ``(cache, last raw logits [V])``."""
    extra = {"logits_to_keep": 1} if "logits_to_keep" in forward_params(model) else {}
    pos = torch.arange(ids.shape[0], device=ids.device)[None]
    out = model(input_ids=ids[None], position_ids=pos, use_cache=True, **extra)
    cache = out.cache if _cache_arg(model) == "cache" else out.past_key_values
    return cache, out.logits[0, -1].float()


def _plain_layers(cache) -> bool:
    """True when every layer holds plain ``keys``/``values`` tensors that can be padded and stacked."""
    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer).__name__ == "DynamicLayer" and getattr(layer, "keys", None) is not None
                                for layer in layers)


def _expand_cache(model, caches: list, counts: list[int]):
    """One cache for ``sum(counts)`` rows: ``counts[j]`` copies of prompt ``j``'s cache, left-padded."""
    if len(caches) == 1:
        cache = copy.deepcopy(caches[0])  # the prompt's own cache stays intact for a later chunk
        cache.batch_repeat_interleave(counts[0])
        return cache
    from transformers import DynamicCache

    width = max(c.layers[0].keys.shape[-2] for c in caches)
    data = []
    for li in range(len(caches[0].layers)):
        ks, vs = [], []
        for c, k in zip(caches, counts):
            key, value = c.layers[li].keys, c.layers[li].values
            pad = width - key.shape[-2]
            ks.append(torch.nn.functional.pad(key, (0, 0, pad, 0)).expand(k, -1, -1, -1))
            vs.append(torch.nn.functional.pad(value, (0, 0, pad, 0)).expand(k, -1, -1, -1))
        data.append((torch.cat(ks), torch.cat(vs)))
    return DynamicCache(ddp_cache_data=data, config=model.config)


@torch.no_grad()
def sample_prompts(model, prompts: Sequence[torch.Tensor], num_samples: int = 1, *, max_new_tokens: int,
                   stop_ids: list[int], pad_id: int, temperature: float = 0.6, top_p: float = 1.0,
                   generator: torch.Generator | None = None, with_self_certainty: bool = True,
                   max_rows: int | None = None) -> SampleBatch:
    """Sample ``num_samples`` continuations of each unpadded prompt ``[P_i]`` (rows grouped by prompt).

    Each prompt is prefilled once; at most ``max_rows`` rows (default: all) decode at once.
    ``temperature == 0`` means greedy decoding. Sampling uses ``generator`` (seeded by the
    caller) so a run is reproducible.
    """
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be >= 1")
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if not prompts or num_samples < 1:
        raise ValueError("need at least one prompt and num_samples >= 1")
    if any(p.dim() != 1 or p.numel() == 0 for p in prompts):
        raise ValueError("each prompt must be a non-empty 1-D tensor of token ids")
    n_rows = len(prompts) * num_samples
    rows_per_chunk = max(1, min(max_rows or n_rows, n_rows))
    done_cache: dict[int, tuple] = {}
    parts: list[SampleBatch] = []
    start = 0
    while start < n_rows:
        end = min(n_rows, start + rows_per_chunk)
        owners = list(range(start // num_samples, (end - 1) // num_samples + 1))
        for j in owners:
            if j not in done_cache:
                done_cache[j] = _prefill(model, prompts[j])
        if len(owners) > 1 and not all(_plain_layers(done_cache[j][0]) for j in owners):
            end = (start // num_samples + 1) * num_samples  # this cache type cannot be padded: one prompt per chunk
            owners = owners[:1]
        counts = [min(end, (j + 1) * num_samples) - max(start, j * num_samples) for j in owners]
        parts.append(_decode_chunk(model, [done_cache[j] for j in owners], counts,
                                   [prompts[j].shape[0] for j in owners], max_new_tokens=max_new_tokens,
                                   stop_ids=stop_ids, pad_id=pad_id, temperature=temperature, top_p=top_p,
                                   generator=generator, with_self_certainty=with_self_certainty))
        for j in list(done_cache):
            if (j + 1) * num_samples <= end:
                del done_cache[j]  # every row of prompt j has been sampled
        start = end
    return _concat(parts, pad_id)


def _decode_chunk(model, prefills: list[tuple], counts: list[int], lengths: list[int], *, max_new_tokens: int,
                  stop_ids: list[int], pad_id: int, temperature: float, top_p: float,
                  generator: torch.Generator | None, with_self_certainty: bool) -> SampleBatch:
    device = prefills[0][1].device
    n = sum(counts)
    cache = _expand_cache(model, [c for c, _ in prefills], counts)
    z = torch.cat([logits[None].expand(k, -1) for (_, logits), k in zip(prefills, counts)])
    length = torch.tensor(lengths, device=device).repeat_interleave(torch.tensor(counts, device=device))
    width = max(lengths)
    attn = None
    if min(lengths) != width:  # left padding inside the merged cache
        attn = (torch.arange(width, device=device)[None] >= (width - length)[:, None]).long()
    stop = torch.tensor(sorted(set(stop_ids)), device=device, dtype=torch.long)
    extra = {"logits_to_keep": 1} if "logits_to_keep" in forward_params(model) else {}
    cache_arg = _cache_arg(model)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    toks, lps, scs, alive = [], [], [], []
    for t in range(max_new_tokens):
        if t:
            if attn is not None:
                attn = torch.cat([attn, torch.ones_like(attn[:, :1])], dim=-1)
            out = model(input_ids=nxt[:, None], attention_mask=attn, position_ids=(length + t - 1)[:, None],
                        use_cache=True, **{cache_arg: cache}, **extra)
            cache = out.cache if cache_arg == "cache" else out.past_key_values
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
    mask = torch.stack(alive, dim=1)
    return SampleBatch(
        tokens=torch.stack(toks, dim=1),
        mask=mask.long(),
        logprobs=torch.stack(lps, dim=1) * mask,
        token_self_certainty=(torch.stack(scs, dim=1) * mask) if with_self_certainty else torch.zeros(mask.shape, device=device),
        finished=done,
    )


def _concat(parts: list[SampleBatch], pad_id: int) -> SampleBatch:
    """Stack chunk results, right-padding each to the longest chunk."""
    if len(parts) == 1:
        return parts[0]
    T = max(p.tokens.shape[1] for p in parts)

    def pad(x: torch.Tensor, value) -> torch.Tensor:
        return torch.nn.functional.pad(x, (0, T - x.shape[1]), value=value)

    return SampleBatch(tokens=torch.cat([pad(p.tokens, pad_id) for p in parts]),
                       mask=torch.cat([pad(p.mask, 0) for p in parts]),
                       logprobs=torch.cat([pad(p.logprobs, 0.0) for p in parts]),
                       token_self_certainty=torch.cat([pad(p.token_self_certainty, 0.0) for p in parts]),
                       finished=torch.cat([p.finished for p in parts]))


def unpad_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
    """The real tokens of each row of a padded batch (where ``attention_mask`` is 1)."""
    return [row[m.bool()] for row, m in zip(input_ids, attention_mask)]


def sample_tokens(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs) -> SampleBatch:
    """:func:`sample_prompts` for a padded batch ``input_ids [N, P]`` (one continuation per row)."""
    return sample_prompts(model, unpad_rows(input_ids, attention_mask), 1, **kwargs)
