"""Per-feature statistics and example samples of an encoded dataset, computed once after encoding.

From the pooled codes g_i(x) (one row per sample and active feature):
- stats: samples activated above 0, their fraction, max and mean of g_i over those samples, and
  a histogram of g_i in `HIST_BINS` equal bins over (0, max];
- examples: the top-N samples by g_i and samples at activation quantiles (what the feature
  explorer shows besides the strongest cases).
Everything is vectorised over all rows; nothing loops over features in Python.
"""

from typing import NamedTuple

import numpy as np
import pyarrow as pa

HIST_BINS = 20
"""Bins of the per-feature activation histogram."""
DEFAULT_TOP_N = 50
"""Top activating samples kept per feature."""
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
"""Activation quantiles (of the activating samples, by value) from which examples are kept."""
PER_QUANTILE = 2
"""Samples kept at each quantile (the sample at the quantile's rank and the next weaker one)."""


class FeatureTables(NamedTuple):
    """The two tables `compute_feature_tables` returns."""

    stats: pa.Table
    """feature, n_active, frac_active, max, mean, hist (list<int64>[HIST_BINS])."""
    examples: pa.Table
    """feature, kind ("top" | "quantile"), rank (0 = strongest), sample, value, position."""


def compute_feature_tables(
    sample: np.ndarray, feature: np.ndarray, value: np.ndarray, position: np.ndarray, *, n_samples: int,
    d_sae: int, top_n: int = DEFAULT_TOP_N,
) -> FeatureTables:
    """Statistics of every feature with at least one active sample, and its example samples.

    Inputs are the pooled rows (value > 0); rows of one feature are ranked by value
    descending, ties by sample id, so the result does not depend on the input order.
    """
    order = np.lexsort((sample, -value, feature))
    f_sorted, v_sorted = feature[order], value[order]
    counts = np.bincount(feature, minlength=d_sae)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    active = np.flatnonzero(counts)
    sums = np.bincount(feature, weights=value.astype(np.float64), minlength=d_sae)
    maxima = np.zeros(d_sae, dtype=np.float32)
    maxima[active] = v_sorted[starts[active]]  # rows are sorted by value descending within a feature
    bins = np.minimum((value / maxima[feature] * HIST_BINS).astype(np.int64), HIST_BINS - 1)
    hist = np.bincount(feature.astype(np.int64) * HIST_BINS + bins, minlength=d_sae * HIST_BINS)
    hist = hist.reshape(d_sae, HIST_BINS)[active]
    stats = pa.table({
        "feature": pa.array(active, pa.int32()),
        "n_active": pa.array(counts[active], pa.int64()),
        "frac_active": pa.array(counts[active] / max(n_samples, 1), pa.float64()),
        "max": pa.array(maxima[active], pa.float32()),
        "mean": pa.array((sums[active] / counts[active]).astype(np.float32), pa.float32()),
        "hist": pa.FixedSizeListArray.from_arrays(pa.array(hist.reshape(-1), pa.int64()), HIST_BINS),
    })
    rank = np.arange(order.size) - starts[f_sorted]
    top = rank < top_n
    quantile = np.zeros(order.size, dtype=bool)
    n_of = counts[f_sorted]
    for q in QUANTILES:
        base = np.floor(q * (n_of - 1)).astype(np.int64)
        for step in range(PER_QUANTILE):
            quantile |= (rank == base + step) & (base + step < n_of)
    quantile &= ~top
    keep = top | quantile
    rows = order[keep]
    examples = pa.table({
        "feature": pa.array(feature[rows], pa.int32()),
        "kind": pa.array(np.where(top[keep], "top", "quantile")),
        "rank": pa.array(rank[keep], pa.int64()),
        "sample": pa.array(sample[rows], pa.int32()),
        "value": pa.array(value[rows], pa.float32()),
        "position": pa.array(position[rows], pa.int32()),
    })
    return FeatureTables(stats, examples)

