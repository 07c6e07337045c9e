"""Max pooling over content tokens, by hand."""

import numpy as np
import torch

from fac_engine.encoding.pooling import pool_max, pool_max_rows


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


def test_pool_max_rows_two_samples() -> None:
    # Tokens: sample 5 has positions 0..2 (t0 = 1), sample 6 has positions 0..1 (t0 = 0).
    sample = np.array([5, 5, 5, 6, 6])
    position = np.array([0, 1, 2, 0, 1])
    content = np.array([False, True, True, True, True])
    values = np.array([[8.0, 1.0], [2.0, 0.0], [2.0, 1.5], [0.5, 0.25], [4.0, 0.5]], np.float32)
    indices = np.array([[1, 2], [1, 3], [1, 2], [2, 1], [2, 7]], np.int32)
    rows = pool_max_rows(sample, position, content, values, indices)
    assert rows.sample.tolist() == [5, 5, 6, 6, 6]
    assert rows.feature.tolist() == [1, 2, 1, 2, 7]
    assert rows.value.tolist() == [2.0, 1.5, 0.25, 4.0, 0.5]
    assert rows.position.tolist() == [1, 2, 0, 1, 1]  # feature 1 of sample 5 ties at 2.0: the first wins
    assert rows.active_tokens.tolist() == [2, 1, 1, 2, 1]
    assert rows.sample.dtype == np.int32 and rows.value.dtype == np.float32


def test_a_content_mask_leaves_out_template_tokens() -> None:
    # Feature 7 fires only on the closing template token (position 3), feature 5 on content and on it.
    values = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [9.0, 4.0]])
    indices = torch.tensor([[0, 1], [5, 1], [5, 1], [5, 7]])
    pooled = pool_max(values, indices, content_T=[False, True, True, False])
    assert pooled.features.tolist() == [5]
    assert pooled.max_values.tolist() == [2.0]
    assert pooled.argmax.tolist() == [1]
    assert pooled.counts.tolist() == [2]
