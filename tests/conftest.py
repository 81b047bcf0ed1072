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
