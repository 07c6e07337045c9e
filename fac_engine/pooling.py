"""Per-sample max pooling of sparse per-token codes: g_i(x) = max over t >= t0 of z_i(x, t)."""

from typing import NamedTuple

import torch


class PooledCodes(NamedTuple):
    """One sample's active features after max pooling over its content tokens."""

    features: torch.Tensor
    """[F] feature ids (int64), sorted by descending max value."""
    max_values: torch.Tensor
    """[F] g_i(x) > 0 for each feature."""
    argmax: torch.Tensor
    """[F] token position (index into the sample's tokens) where the max is reached."""
    counts: torch.Tensor
    """[F] number of content tokens on which the feature is active."""


def pool_max(values_TW: torch.Tensor, indices_TW: torch.Tensor, content_start: int = 0) -> PooledCodes:
    """Max-pool sparse codes over tokens t >= content_start; zero values are inactive slots."""
    values = values_TW[content_start:].reshape(-1).float()
    indices = indices_TW[content_start:].reshape(-1)
    positions = torch.arange(content_start, values_TW.shape[0]).repeat_interleave(values_TW.shape[1])
    active = values > 0
    values, indices, positions = values[active], indices[active], positions[active]
    if values.numel() == 0:
        empty = torch.zeros(0, dtype=torch.int64)
        return PooledCodes(empty, torch.zeros(0), empty, empty)
    features, inverse, counts = torch.unique(indices, return_inverse=True, return_counts=True)
    max_values = torch.full((features.numel(),), -1.0).scatter_reduce(0, inverse, values, reduce="amax")
    # The first position reaching the max: among entries equal to their feature's max, the earliest.
    is_max = values == max_values[inverse]
    big = torch.iinfo(torch.int64).max
    argmax = torch.full((features.numel(),), big, dtype=torch.int64).scatter_reduce(
        0, inverse[is_max], positions[is_max], reduce="amin"
    )
    order = torch.argsort(max_values, descending=True, stable=True)
    return PooledCodes(features[order], max_values[order], argmax[order], counts[order])
