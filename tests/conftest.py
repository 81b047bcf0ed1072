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


@pytest.fixture
def optimizer_lrs(monkeypatch) -> list[float]:
    """The learning rate of every ``AdamW.step`` call from here on, in order."""
    import torch

    used: list[float] = []
    real_step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        used.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)
    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    return used
