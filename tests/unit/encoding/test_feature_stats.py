"""Per-feature statistics and examples, on hand-made pooled rows."""

import numpy as np

from fac_engine.encoding.feature_stats import HIST_BINS, compute_feature_tables


def _tables(top_n: int = 2):  # type: ignore[no-untyped-def]
    sample = np.array([0, 1, 2, 3, 0], np.int32)
    feature = np.array([1, 1, 1, 1, 3], np.int32)
    value = np.array([2.0, 4.0, 1.0, 4.0, 0.5], np.float32)
    position = np.array([3, 1, 2, 0, 5], np.int32)
    return compute_feature_tables(sample, feature, value, position, n_samples=5, d_sae=4, top_n=top_n)


def test_stats_exact() -> None:
    stats = _tables().stats.to_pydict()
    assert stats["feature"] == [1, 3]
    assert stats["n_active"] == [4, 1]
    assert stats["frac_active"] == [0.8, 0.2]
    assert stats["max"] == [4.0, 0.5]
    assert stats["mean"] == [2.75, 0.5]
    hist1 = [0] * HIST_BINS
    hist1[5], hist1[10], hist1[19] = 1, 1, 2  # 1.0 -> bin 5, 2.0 -> bin 10, the max 4.0 -> the last bin
    hist3 = [0] * HIST_BINS
    hist3[19] = 1
    assert stats["hist"] == [hist1, hist3]


def test_examples_top_then_quantiles_ties_by_sample() -> None:
    ex = _tables().examples.to_pydict()
    assert ex["feature"] == [1, 1, 1, 1, 3]
    assert ex["kind"] == ["top", "top", "quantile", "quantile", "top"]
    assert ex["rank"] == [0, 1, 2, 3, 0]
    assert ex["sample"] == [1, 3, 0, 2, 0]  # 4.0 ties between samples 1 and 3: lower id first
    assert ex["value"] == [4.0, 4.0, 2.0, 1.0, 0.5]
    assert ex["position"] == [1, 0, 3, 2, 5]


def test_result_does_not_depend_on_row_order() -> None:
    a = _tables()
    sample = np.array([0, 3, 2, 1, 0], np.int32)
    feature = np.array([3, 1, 1, 1, 1], np.int32)
    value = np.array([0.5, 4.0, 1.0, 4.0, 2.0], np.float32)
    position = np.array([5, 0, 2, 1, 3], np.int32)
    b = compute_feature_tables(sample, feature, value, position, n_samples=5, d_sae=4, top_n=2)
    assert a.stats.equals(b.stats) and a.examples.equals(b.examples)
