"""Self-certainty of a generated span (SPEC: "Reward", rationale term).

For one position with logits ``z`` over a vocabulary of size ``V`` and ``p = softmax(z)``::

    KL(U || p) = sum_v (1/V) * log((1/V) / p_v) = logsumexp(z) - mean(z) - log V

which is >= 0, is 0 for a uniform ``p`` and grows as ``p`` concentrates (Kang et al. 2025,
arXiv 2502.18581). The self-certainty of a span is the mean of this quantity over the
span's tokens; Shop-R1 uses the tokens of the rationale string only.

**Decision (temperature).** Self-certainty is computed from the model's *raw* logits, not
the temperature-scaled ones used for sampling: it measures the policy's own confidence,
and it must not change when only the sampling temperature changes. ``LLMAgent`` therefore
feeds the untempered logits of each generation step here (the same forward pass that
produced the token; no second pass). Samplers that return no logits (vLLM) get the value
from the trainer's forward pass over the sampled tokens before its update
(:func:`agents.training.grpo_update.forward_self_certainty`), which with one update per
batch is the same policy and the same value.

All arithmetic is done in float32 whatever the input dtype (bf16 logits lose too much in
``logsumexp - mean``).
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import torch

__all__ = ["token_self_certainty", "self_certainty", "rationale_char_span", "rationale_token_mask"]


def token_self_certainty(logits: torch.Tensor) -> torch.Tensor:
    """Per-position ``KL(U || softmax(z))`` for logits ``[..., V]`` -> ``[...]`` (float32)."""
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have a non-empty vocabulary axis, got shape {tuple(logits.shape)}")
    z = logits.float()
    return torch.logsumexp(z, dim=-1) - z.mean(dim=-1) - math.log(z.shape[-1])


def self_certainty(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean ``KL(U || p_t)`` over the positions where ``mask`` is 1.

    Args:
        logits: ``[..., T, V]`` next-token logits; position ``t`` is the distribution the
            ``t``-th token was drawn from.
        mask: ``[..., T]`` with 1 (or True) on the tokens to average over.

    Returns:
        ``[...]`` float32 tensor. A row whose mask is empty gets 0 (an output without a
        rationale earns no self-certainty bonus).
    """
    if logits.dim() < 2:
        raise ValueError(f"logits must be [..., T, V], got shape {tuple(logits.shape)}")
    if mask.shape != logits.shape[:-1]:
        raise ValueError(f"mask shape {tuple(mask.shape)} must equal logits.shape[:-1] = {tuple(logits.shape[:-1])}")
    return masked_mean(token_self_certainty(logits), mask)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values [..., T]`` over ``mask``'s positions along the last axis (0 when empty)."""
    m = mask.to(torch.float32)
    total = (values.float() * m).sum(dim=-1)
    count = m.sum(dim=-1)
    return torch.where(count > 0, total / count.clamp(min=1.0), torch.zeros_like(total))


_RATIONALE_KEY = re.compile(r'"rationale"\s*:\s*"')


def rationale_char_span(text: str) -> tuple[int, int] | None:
    """Character span ``[start, end)`` of the rationale string's *content* inside ``text``.

    Scans for the ``"rationale": "`` key of the (possibly malformed or truncated) JSON
    output and walks the string literal, honouring backslash escapes. An unterminated
    string runs to the end of the text. Returns ``None`` when there is no rationale key.
    If the text parses as JSON with a top-level ``rationale``, the first such key at
    nesting depth 1 is used; otherwise the first occurrence.
    """
    candidates = list(_RATIONALE_KEY.finditer(text))
    if not candidates:
        return None
    match = candidates[0]
    if len(candidates) > 1:
        for m in candidates:  # prefer a key at object depth 1 (not inside a nested string/obj)
            if _depth_at(text, m.start()) == 1:
                match = m
                break
    start = i = match.end()
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return start, i
        i += 1
    return start, len(text)


def _depth_at(text: str, pos: int) -> int:
    """JSON object nesting depth at ``pos`` (strings skipped)."""
    depth, i, in_str = 0, 0, False
    while i < pos:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        i += 1
    return depth


def rationale_token_mask(text: str, offsets: Sequence[tuple[int, int]]) -> list[bool]:
    """True for each token whose character range overlaps the rationale string's content.

    ``offsets`` are ``(start, end)`` character offsets of each token in ``text`` (as
    returned by a fast tokenizer's ``return_offsets_mapping``). Empty-range tokens never
    count. Returns all False when the text has no rationale.
    """
    span = rationale_char_span(text)
    if span is None:
        return [False] * len(offsets)
    s, e = span
    return [bool(b > a and a < e and b > s) for a, b in offsets]

