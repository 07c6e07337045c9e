"""Max pooling over content tokens, by hand."""

import torch

from fac_engine.pooling import pool_max


def test_pool_max_exact() -> None:
    values = torch.tensor([[9.0, 1.0], [2.0, 0.5], [3.0, 0.0], [2.0, 3.0]])
    indices = torch.tensor([[7, 1], [4, 1], [4, 5], [1, 4]])
    pooled = pool_max(values, indices, content_start=1)
    # Token 0 (feature 7 at 9.0) is template prefix and skipped; slot (2, 5) is inactive.
    assert pooled.features.tolist() == [4, 1]
    assert pooled.max_values.tolist() == [3.0, 2.0]
    assert pooled.argmax.tolist() == [2, 3]
    assert pooled.counts.tolist() == [3, 2]


def test_pool_max_ties_take_first_position() -> None:
    values = torch.tensor([[1.0], [1.0]])
    indices = torch.tensor([[3], [3]])
    assert pool_max(values, indices).argmax.tolist() == [0]


def test_pool_max_nothing_active() -> None:
    pooled = pool_max(torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.int64))
    assert pooled.features.numel() == 0
