"""Per-sample max pooling of sparse per-token codes: g_i(x) = max over content tokens t of z_i(x, t).

Which tokens are content is decided once, when the text is tokenised (fac_engine/models/template.py):
the content of the non-system messages, never role markers, template suffixes or special tokens.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
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


def pool_max(values_TW: torch.Tensor, indices_TW: torch.Tensor, content_start: int = 0,
             content_T: Sequence[bool] | None = None) -> PooledCodes:
    """Max-pool one sample's sparse codes over its content tokens (`content_T`, or t >= content_start when no
    mask is given); zero values are inactive slots."""
    n = values_TW.shape[0]
    positions = np.arange(n)
    content = positions >= content_start if content_T is None else np.asarray(content_T, bool)
    rows = pool_max_rows(np.zeros(n, np.int64), positions, content,
                         values_TW.detach().float().cpu().numpy(), indices_TW.cpu().numpy())
    order = np.argsort(-rows.value, kind="stable")
    return PooledCodes(torch.from_numpy(rows.feature[order].astype(np.int64)), torch.from_numpy(rows.value[order]),
                       torch.from_numpy(rows.position[order].astype(np.int64)),
                       torch.from_numpy(rows.active_tokens[order].astype(np.int64)))


class PooledRows(NamedTuple):
    """Max-pooled codes of many samples as flat rows, one per (sample, active feature)."""

    sample: np.ndarray
    """[M] int32 sample ids, ascending."""
    feature: np.ndarray
    """[M] int32 feature ids, ascending within a sample."""
    value: np.ndarray
    """[M] float32 g_i(x) > 0."""
    position: np.ndarray
    """[M] int32 token position of the max (the earliest one on ties)."""
    active_tokens: np.ndarray
    """[M] int32 number of content tokens on which the feature is active."""


def pool_max_rows(
    sample_N: np.ndarray, position_N: np.ndarray, content_N: np.ndarray, values_NW: np.ndarray, indices_NW: np.ndarray
) -> PooledRows:
    """Max-pool the sparse codes of tokens from many samples at once (the batched `pool_max`).

    Token n belongs to sample `sample_N[n]` at `position_N[n]`; only tokens with `content_N[n]`
    and slots with a value > 0 count.
    """
    rows, slots = np.nonzero(values_NW > 0)
    return pool_max_entries(sample_N[rows], position_N[rows], content_N[rows], values_NW[rows, slots],
                            indices_NW[rows, slots])


def pool_max_entries(sample_E: np.ndarray, position_E: np.ndarray, content_E: np.ndarray, value_E: np.ndarray,
                     feature_E: np.ndarray) -> PooledRows:
    """`pool_max_rows` on flat (token, feature) entries: entry e is feature `feature_E[e]` at value `value_E[e]`
    on the token at `position_E[e]` of sample `sample_E[e]`; entries off content tokens or at 0 are ignored."""
    keep = content_E & (value_E > 0)
    sample = sample_E[keep].astype(np.int64)
    feature = feature_E[keep].astype(np.int64)
    value = value_E[keep].astype(np.float32)
    position = position_E[keep].astype(np.int64)
    # Sort by (sample, feature, value descending, position): each group's first row holds its max.
    order = np.lexsort((position, -value, feature, sample))
    sample, feature, value, position = sample[order], feature[order], value[order], position[order]
    first = np.ones(sample.size, dtype=bool)
    first[1:] = (sample[1:] != sample[:-1]) | (feature[1:] != feature[:-1])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, sample.size))
    return PooledRows(sample[starts].astype(np.int32), feature[starts].astype(np.int32), value[starts],
                      position[starts].astype(np.int32), counts.astype(np.int32))
