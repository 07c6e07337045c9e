"""One feature's activation on each token, from per-token sparse codes (shared by the scorer, the explorer and the
probe)."""

import numpy as np

from fac_engine.encoding.activations import feature_activations


def test_feature_activations_per_token() -> None:
    values_TW = np.array([[2.0, 0.5], [1.5, 0.0], [0.25, 3.0]], dtype=np.float32)
    indices_TW = np.array([[7, 3], [3, 7], [1, 2]])
    assert feature_activations(values_TW, indices_TW, 3).tolist() == [0.5, 1.5, 0.0]
    assert feature_activations(values_TW, indices_TW, 7).tolist() == [2.0, 0.0, 0.0]
    assert feature_activations(values_TW, indices_TW, 9).tolist() == [0.0, 0.0, 0.0]
    assert feature_activations(values_TW, indices_TW, 3).dtype == np.float32
    assert feature_activations(np.zeros((2, 0), np.float32), np.zeros((2, 0), np.int64), 3).tolist() == [0.0, 0.0]
