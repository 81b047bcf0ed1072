"""ROUGE-L F-measure on word tokens, identical to ``rouge-score`` (no stemmer) but much faster.

SPEC decision: tokens are the lowercase runs of ``[a-z0-9]``, exactly what rouge-score's
default tokenizer produces. Its steps are: ``text.lower()`` (full Unicode lowercasing, so
``"İ"`` becomes ``"i̇"`` and yields the token ``"i"``, and the Kelvin sign yields ``"k"``),
every character outside ``[a-z0-9]`` becomes a separator, and the remaining runs are the
tokens. Other non-ASCII letters (``"é"``, ``"手机"``) are therefore separators and produce
no tokens. ``rouge_l("add_to_cart", "add_to_cart.buy_now")`` is 0.75 (as a float,
0.7499999999999999, exactly what rouge-score returns).

The F-measure is rouge-score's: ``p = lcs/len(pred)``, ``r = lcs/len(ref)``,
``f = 2pr/(p+r)`` and ``0.0`` when either side has no tokens, computed with the same
floating-point operations so results are bit-identical.

Speed: ASCII text is tokenised with one ``bytes.translate`` + ``split`` (tokens are kept as
``bytes``), tokens and match vectors are cached in bounded dicts, and the LCS length uses the bit-parallel algorithm of Allison & Dix (1986) in Hyyrö's
formulation on Python big ints: one add, one subtract and two bit operations per token of
the shorter sequence, whatever the length of the longer one.
"""
from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Sequence

__all__ = ["tokenize", "lcs_length", "rouge_l", "rouge_l_tokens", "similarity_above", "clear_caches"]

_TOKEN_RE = re.compile(r"[a-z0-9]+")
# Caches: plain dicts (cheaper than functools.lru_cache on a miss), emptied when full;
# only strings up to _CACHE_MAX_CHARS are cached, so memory stays bounded (~tens of MB).
_CACHE_ENTRIES = 1 << 15
_CACHE_MAX_CHARS = 1024
_TOKENS: dict[str, tuple[bytes, ...]] = {}
_MASKS: dict[tuple, dict] = {}
# bytes.translate table: [a-z0-9] kept, every other byte becomes a space
_ASCII_SEPARATORS = bytes(c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))


def _token_bytes(text: str) -> tuple[bytes, ...]:
    """The tokens of ``text`` as ASCII ``bytes`` (internal form: hashing and comparing are cheap).

    For text that is ASCII after lowercasing, one ``bytes.translate`` + ``split`` replaces the
    regex (about 4x faster); other text goes through the regex on the lowercased string.
    """
    tokens = _TOKENS.get(text)
    if tokens is None:
        low = text.lower()
        if low.isascii():
            tokens = tuple(low.encode("ascii").translate(_ASCII_SEPARATORS).split())
        else:
            tokens = tuple(tok.encode("ascii") for tok in _TOKEN_RE.findall(low))
        if len(text) <= _CACHE_MAX_CHARS:
            if len(_TOKENS) >= _CACHE_ENTRIES:
                _TOKENS.clear()
            _TOKENS[text] = tokens
    return tokens


def tokenize(text: str) -> tuple[str, ...]:
    """rouge-score's default tokens of ``text``: lowercase ``[a-z0-9]`` runs, as a tuple."""
    return tuple(tok.decode("ascii") for tok in _token_bytes(text))


def _match_masks(tokens: tuple) -> dict:
    """Bit ``i`` of ``masks[t]`` is set where ``tokens[i] == t`` (the Allison-Dix match vectors)."""
    masks = _MASKS.get(tokens)
    if masks is None:
        masks = {}
        bit = 1
        for tok in tokens:
            masks[tok] = masks.get(tok, 0) | bit
            bit <<= 1
        if len(tokens) <= _CACHE_MAX_CHARS // 4:
            if len(_MASKS) >= _CACHE_ENTRIES:
                _MASKS.clear()
            _MASKS[tokens] = masks
    return masks


def clear_caches() -> None:
    """Empty the tokenisation and match-vector caches (benchmarks use it for cold runs)."""
    _TOKENS.clear()
    _MASKS.clear()


def _lcs_bits(masks: dict, m: int, other: Sequence) -> int:
    """LCS length of the sequence described by ``masks`` (length ``m``) and ``other``."""
    full = (1 << m) - 1
    v = full
    get = masks.get
    for tok in other:
        u = v & get(tok, 0)
        if u:
            v = ((v + u) | (v - u)) & full
    return m - v.bit_count()


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences."""
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a  # bit vectors over the longer one, loop over the shorter one
    a = tuple(a)
    return _lcs_bits(_match_masks(a), len(a), b)


def rouge_l_tokens(prediction: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F-measure of two token sequences, exactly as rouge-score computes it."""
    if not prediction or not reference:
        return 0.0
    if len(prediction) == len(reference) and tuple(prediction) == tuple(reference):
        return 1.0
    return _fmeasure(lcs_length(prediction, reference), len(prediction), len(reference))


def _fmeasure(lcs: int, n_pred: int, n_ref: int) -> float:
    """rouge-score's F-measure, with its exact floating-point operations."""
    if lcs == 0:
        return 0.0
    precision = lcs / n_pred
    recall = lcs / n_ref
    return 2 * precision * recall / (precision + recall)


def similarity_above(prediction: str, reference: str, threshold: float) -> float:
    """ROUGE-L if it strictly exceeds ``threshold``, else 0.0 (the reward's and metrics' gate).

    The comparison is exact: ROUGE-L F equals ``2*lcs/(n_pred+n_ref)``, compared with the
    threshold as a rational, so a pair exactly at the threshold never passes even when the
    float F-measure rounds above it. Two identical non-empty strings (after ``strip``) score
    1.0 even when they have no ``[a-z0-9]`` token (e.g. a non-Latin search query), which
    rouge-score would score 0.0; every other pair scores as rouge-score does.
    """
    pred_tokens, ref_tokens = _token_bytes(prediction), _token_bytes(reference)
    if not pred_tokens or not ref_tokens:
        stripped = prediction.strip()
        same = bool(stripped) and stripped == reference.strip()
        return 1.0 if same and 1.0 > threshold else 0.0
    if pred_tokens == ref_tokens:
        lcs = len(pred_tokens)
    else:
        lcs = lcs_length(pred_tokens, ref_tokens)
    num, den = _decimal_ratio(threshold)
    if 2 * lcs * den <= num * (len(pred_tokens) + len(ref_tokens)):
        return 0.0
    return _fmeasure(lcs, len(pred_tokens), len(ref_tokens))



@lru_cache(maxsize=64)
def _decimal_ratio(threshold: float) -> tuple[int, int]:
    # The threshold as the decimal the user wrote (0.7 -> 7/10), not its binary float
    # (0.7 is stored just below 7/10, which would let F = 0.7 "exceed" it).
    frac = Fraction(repr(float(threshold)))
    return frac.numerator, frac.denominator


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure of two strings on rouge-score's default tokens (no stemming).

    Symmetric in its arguments; 0.0 when either string has no ``[a-z0-9]`` token.
    """
    return rouge_l_tokens(_token_bytes(prediction), _token_bytes(reference))
