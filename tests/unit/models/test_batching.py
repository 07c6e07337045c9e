"""batches_by_token_budget: exact groupings, padding and row bookkeeping."""

import pytest
import torch

from fac_engine.models.batching import TokenBatch, batches_by_token_budget

PAD = 9


def _rows(batches: list[TokenBatch]) -> list[list[int]]:
    return [batch.rows for batch in batches]


def test_longest_first_groups_within_the_budget() -> None:
    token_ids = [[1, 2, 3], [1, 2, 3, 4, 5], [7], [4, 3, 2, 1], [5, 6]]
    batches = list(batches_by_token_budget(token_ids, token_budget=10, pad_id=PAD))
    # 5+4 -> 2 x 5 = 10 fits; adding the 3 would make 3 x 5 = 15. Then 3, 2, 1 -> 3 x 3 = 9.
    assert _rows(batches) == [[1, 3], [0, 4, 2]]
    first, second = batches
    assert first.input_ids.tolist() == [[1, 2, 3, 4, 5], [4, 3, 2, 1, PAD]]
    assert first.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    assert second.input_ids.tolist() == [[1, 2, 3], [5, 6, PAD], [7, PAD, PAD]]
    assert second.attention_mask.tolist() == [[1, 1, 1], [1, 1, 0], [1, 0, 0]]
    assert first.input_ids.dtype == torch.long and first.attention_mask.dtype == torch.long


def test_a_sequence_longer_than_the_budget_goes_alone() -> None:
    token_ids = [[1] * 3, [2] * 12, [3] * 3, [4] * 11]
    assert _rows(list(batches_by_token_budget(token_ids, token_budget=10, pad_id=PAD))) == [[1], [3], [0, 2]]


def test_equal_lengths_keep_input_order_and_fill_the_budget() -> None:
    token_ids = [[i, i] for i in range(7)]
    batches = list(batches_by_token_budget(token_ids, token_budget=6, pad_id=PAD))
    assert _rows(batches) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches[2].input_ids.tolist() == [[6, 6]]


def test_budget_bound_and_every_row_once() -> None:
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 40, (200,), generator=gen).tolist()
    token_ids = [list(range(n)) for n in lengths]
    batches = list(batches_by_token_budget(token_ids, token_budget=64, pad_id=PAD))
    assert sorted(row for batch in batches for row in batch.rows) == list(range(200))
    for batch in batches:
        batch_size, width = batch.input_ids.shape
        assert batch_size == 1 or batch_size * width <= 64
        assert batch.attention_mask.sum(dim=1).tolist() == [lengths[row] for row in batch.rows]
        for b, row in enumerate(batch.rows):
            assert batch.input_ids[b, : lengths[row]].tolist() == token_ids[row]


def test_no_input_no_batches() -> None:
    assert list(batches_by_token_budget([], token_budget=8, pad_id=PAD)) == []


def test_bad_budget_and_empty_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="budget must be positive"):
        list(batches_by_token_budget([[1]], token_budget=0, pad_id=PAD))
    with pytest.raises(ValueError, match="Row 1 has no tokens"):
        list(batches_by_token_budget([[1], []], token_budget=8, pad_id=PAD))
