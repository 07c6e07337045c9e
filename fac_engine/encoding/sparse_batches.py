"""Token ids -> per-token sparse SAE codes, many samples per forward pass.

The one batched path shared by dataset encoding and candidate scoring, so a text gets the same
codes in both: token-budget batches (longest first, little padding), the forward pass stopped at
the SAE's layer, the SAE on real tokens only, sparse codes back on the CPU.
"""

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch

from fac_engine.models.batching import batches_by_token_budget
from fac_engine.models.loader import LoadedModel
from fac_engine.sae.model import SparseAutoencoder


class RowCodes(NamedTuple):
    """One input row's per-token sparse codes."""

    row: int
    """Index of the row in the input list."""
    values: np.ndarray
    """[T, W] float32 activations (0 in unused slots)."""
    indices: np.ndarray
    """[T, W] int32 feature ids."""


@torch.no_grad()
def sparse_codes_by_batch(lm: LoadedModel, sae: SparseAutoencoder, token_ids: Sequence[Sequence[int]],
                          token_budget: int) -> Iterator[list[RowCodes]]:
    """Yield, batch by batch, the sparse codes of every row in that batch."""
    for batch in batches_by_token_budget(token_ids, token_budget, lm.pad_id):
        mask = batch.attention_mask.to(lm.device)
        acts_BTD = lm.residuals(batch.input_ids.to(lm.device), mask, sae.cfg.hook_layer)
        real_BT = mask.bool()
        sparse = sae.encode_sparse(acts_BTD[real_BT].to(sae.dtype))
        values = sparse.values.float().cpu().numpy()
        indices = sparse.indices.to(torch.int32).cpu().numpy()
        out, start = [], 0
        for row, n in zip(batch.rows, real_BT.sum(1).cpu().tolist(), strict=True):
            out.append(RowCodes(row, values[start : start + n], indices[start : start + n]))
            start += n
        yield out
