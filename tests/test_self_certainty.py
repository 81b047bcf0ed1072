"""Self-certainty KL(U || p) against an independent float64 NumPy reference, and rationale location."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.self_certainty import (masked_mean, rationale_char_span, rationale_token_mask, self_certainty,
                                   token_self_certainty)


def reference(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """KL(U||p) by its definition, sum_v (1/V) log((1/V) / p_v), in float64."""
    z = logits.astype(np.float64)
    zmax = z.max(-1, keepdims=True)
    logp = z - zmax - np.log(np.exp(z - zmax).sum(-1, keepdims=True))
    V = z.shape[-1]
    kl = (1.0 / V) * (np.log(1.0 / V) - logp).sum(-1)
    m = mask.astype(np.float64)
    cnt = m.sum(-1)
    return np.where(cnt > 0, (kl * m).sum(-1) / np.maximum(cnt, 1), 0.0)


@pytest.mark.parametrize("shape,scale", [((3, 7, 50), 1.0), ((2, 4, 5, 1000), 3.0), ((1, 9, 32000), 8.0),
                                         ((4, 6, 17), 40.0)])
def test_matches_float64_reference(shape, scale):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=shape) * scale
    mask = rng.random(shape[:-1]) < 0.6
    mask[..., 0] = True
    got = self_certainty(torch.tensor(logits, dtype=torch.float32), torch.tensor(mask))
    want = reference(logits.astype(np.float32), mask)
    assert got.dtype == torch.float32 and got.shape == shape[:-2]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-6, rtol=1e-6)


def test_bf16_input_is_computed_in_fp32():
    rng = np.random.default_rng(1)
    logits = torch.tensor(rng.normal(size=(2, 5, 4096)) * 5, dtype=torch.bfloat16)
    mask = torch.ones(2, 5)
    want = reference(logits.float().numpy(), mask.numpy())  # the exact bf16 values, in float64
    np.testing.assert_allclose(self_certainty(logits, mask).numpy(), want, atol=1e-6, rtol=1e-6)


def test_known_values_and_mask_semantics():
    V = 10
    uniform = torch.zeros(1, 3, V)
    assert float(self_certainty(uniform, torch.ones(1, 3))) == pytest.approx(0.0, abs=1e-7)
    peaked = torch.full((1, 1, V), -1e4)
    peaked[..., 0] = 0.0  # essentially one-hot: KL(U||p) -> large
    assert float(token_self_certainty(peaked)) > 1000
    # Empty mask -> 0; masked positions only.
    logits = torch.randn(2, 4, V)
    mask = torch.tensor([[0, 0, 0, 0], [0, 1, 1, 0]])
    out = self_certainty(logits, mask)
    assert float(out[0]) == 0.0
    assert float(out[1]) == pytest.approx(float(token_self_certainty(logits[1, 1:3]).mean()), abs=1e-6)
    with pytest.raises(ValueError):
        self_certainty(logits, torch.ones(2, 5))


@settings(deadline=None, max_examples=60)
@given(st.lists(st.floats(-50, 50), min_size=2, max_size=40), st.floats(-1e3, 1e3))
def test_nonnegative_and_shift_invariant(values, shift):
    z = torch.tensor(values, dtype=torch.float32)[None, None]
    m = torch.ones(1, 1)
    a = float(self_certainty(z, m))
    b = float(self_certainty(z + shift, m))
    assert a >= -1e-5
    assert a == pytest.approx(b, abs=1e-3 + 1e-5 * abs(shift))


def test_masked_mean_handles_float_masks():
    v = torch.tensor([[1.0, 2.0, 3.0]])
    assert float(masked_mean(v, torch.tensor([[1.0, 0.0, 1.0]]))) == pytest.approx(2.0)


rationales = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(deadline=None, max_examples=100)
@given(rationales, st.sampled_from([{"type": "terminate"}, {"type": "click", "name": "a.b"}]))
def test_span_is_exactly_the_rationale_string(rationale, action):
    for text in (json.dumps({"rationale": rationale, "action": action}, ensure_ascii=False),
                 json.dumps({"action": action, "rationale": rationale}),  # other key order, ASCII escapes
                 json.dumps({"rationale": rationale, "action": action}, indent=2)):
        s, e = rationale_char_span(text)
        assert json.loads('"' + text[s:e] + '"') == rationale


def test_span_edge_cases():
    assert rationale_char_span('{"action": {"type": "terminate"}}') is None
    assert rationale_char_span("not json at all") is None
    text = '{"rationale": "I am cut off'  # truncated output: runs to the end
    s, e = rationale_char_span(text)
    assert text[s:e] == "I am cut off"
    # A "rationale" key nested in a string value does not fool it.
    text = '{"action": {"type": "click", "name": "x"}, "note": "{\\"rationale\\": \\"no\\"}", "rationale": "yes"}'
    s, e = rationale_char_span(text)
    assert text[s:e] == "yes"


def test_token_mask_from_offsets():
    text = '{"rationale": "I want it", "action": {"type": "terminate"}}'
    s = text.index("I want")
    # Tokens: before, straddling the opening quote, inside, the closing quote, after, an empty range.
    offsets = [(0, 2), (s - 1, s + 1), (s + 1, s + 9), (s + 9, s + 10), (s + 10, len(text)), (len(text), len(text))]
    assert rationale_token_mask(text, offsets) == [False, True, True, False, False, False]
    assert rationale_token_mask("{}", [(0, 1), (1, 2)]) == [False, False]
