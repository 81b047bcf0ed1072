"""Shared pytest fixtures."""
from __future__ import annotations

import pytest


@pytest.fixture
def torch_one_thread():
    """Run a test with one torch thread: the tiny models are fastest that way on a small, busy CPU."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def sdpa_masks(monkeypatch):
    """Records the attention-mask shape (``None`` when none) of every SDPA call during the test."""
    import torch

    shapes: list = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kwargs):
        shapes.append(None if attn_mask is None else tuple(attn_mask.shape))
        return real(q, k, v, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    return shapes
