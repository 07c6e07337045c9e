"""Group tokenised texts into padded batches that fit a token budget."""

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch


class TokenBatch(NamedTuple):
    """One right-padded batch and where its rows came from."""

    input_ids: torch.Tensor
    """Token ids `[B, T]` (long), right-padded with the pad id."""
    attention_mask: torch.Tensor
    """`[B, T]` (long): 1 on real tokens, 0 on padding."""
    rows: list[int]
    """For each batch row, its index in the input list."""


def batches_by_token_budget(token_ids: Sequence[Sequence[int]], token_budget: int, pad_id: int) -> Iterator[TokenBatch]:
    """Yield padded batches with `batch_size * longest_in_batch <= token_budget`.

    Rows are taken longest first (ties in input order), so neighbours have similar lengths and
    little padding is computed. A row longer than the budget goes alone. Every input row appears
    in exactly one batch; `TokenBatch.rows` maps batch rows back to input indices.
    """
    if token_budget <= 0:
        raise ValueError(f"The token budget must be positive, got {token_budget}.")
    for index, ids in enumerate(token_ids):
        if len(ids) == 0:
            raise ValueError(f"Row {index} has no tokens; drop empty texts before batching.")
    order = sorted(range(len(token_ids)), key=lambda i: (-len(token_ids[i]), i))
    group: list[int] = []
    for index in order:
        # Longest first: the group's first row sets its padded width.
        if group and (len(group) + 1) * len(token_ids[group[0]]) > token_budget:
            yield _pad(token_ids, group, pad_id)
            group = []
        group.append(index)
    if group:
        yield _pad(token_ids, group, pad_id)


def _pad(token_ids: Sequence[Sequence[int]], rows: list[int], pad_id: int) -> TokenBatch:
    """Right-pad the given rows to the longest of them."""
    width = max(len(token_ids[i]) for i in rows)
    input_ids_BT = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask_BT = torch.zeros((len(rows), width), dtype=torch.long)
    for b, index in enumerate(rows):
        ids = token_ids[index]
        input_ids_BT[b, : len(ids)] = torch.as_tensor(list(ids), dtype=torch.long)
        attention_mask_BT[b, : len(ids)] = 1
    return TokenBatch(input_ids_BT, attention_mask_BT, list(rows))
