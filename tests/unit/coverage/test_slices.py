"""Slices, feature orderings, k-means and label association on hand-made pooled codes."""

import math

import numpy as np
import pytest

from fac_engine.coverage.fac import PooledArrays, feature_support
from fac_engine.coverage.slices import (
    NO_LABEL,
    SliceCounts,
    cluster_groups,
    frequency_groups,
    kmeans_cosine,
    label_codes,
    label_log_odds,
    label_name,
    label_slices,
    stack_slices,
    top_features,
    whole_slice,
)
from fac_engine.errors import FacError

# sample 0: f0 1.0, f1 0.5 | sample 1: f0 2.0 | sample 2: f2 3.0, f1 1.5 | sample 3: nothing | sample 4: f0 0.2, f2 1.0
SAMPLE = np.array([0, 0, 1, 2, 2, 4, 4], dtype=np.int32)
FEATURE = np.array([0, 1, 0, 2, 1, 0, 2], dtype=np.int32)
VALUE = np.array([1.0, 0.5, 2.0, 3.0, 1.5, 0.2, 1.0], dtype=np.float32)


def pooled(with_samples: bool = True) -> PooledArrays:
    return PooledArrays(SAMPLE if with_samples else None, FEATURE, VALUE, n_samples=5, d_sae=4)


def test_label_slices_count_samples_per_label_and_feature() -> None:
    slices = label_slices(pooled(), ["a", "b", "a", None, "b"], 0.0, prefix="anchor")
    assert slices.names == ("anchor · (no label)", "anchor · a", "anchor · b")
    assert slices.counts.tolist() == [[0, 0, 0, 0], [1, 2, 1, 0], [2, 0, 1, 0]]
    assert slices.sizes.tolist() == [1, 2, 2]
    assert slices.fractions.tolist() == [[0, 0, 0, 0], [0.5, 1.0, 0.5, 0], [1.0, 0, 0.5, 0]]
    assert slices.d_sae == 4 and slices.threshold == 0.0


def test_label_slices_threshold_is_strict() -> None:
    slices = label_slices(pooled(), ["a", "b", "a", None, "b"], 0.5)
    assert slices.names == (NO_LABEL, "a", "b")
    # s0 f1 = 0.5 and s4 f0 = 0.2 drop out; s4 f2 = 1.0 stays.
    assert slices.counts.tolist() == [[0, 0, 0, 0], [1, 1, 1, 0], [1, 0, 1, 0]]


def test_label_slices_numbers_and_nan_labels() -> None:
    slices = label_slices(pooled(), [1, 0, 1, float("nan"), 0], 0.0)
    assert slices.names == (NO_LABEL, "0", "1")
    assert slices.counts[2].tolist() == [1, 2, 1, 0]
    assert label_name(True) == "True" and label_name(None) == NO_LABEL


def test_label_slices_need_samples_and_one_label_per_sample() -> None:
    with pytest.raises(FacError, match="sample ids"):
        label_slices(pooled(with_samples=False), ["a"] * 5, 0.0)
    with pytest.raises(FacError, match="4 labels for 5 samples"):
        label_slices(pooled(), ["a"] * 4, 0.0)


def test_whole_and_stacked_slices() -> None:
    support = feature_support(pooled(), 0.0)
    whole = whole_slice(support, "seed")
    assert whole.names == ("seed",) and whole.counts.tolist() == [[3, 2, 2, 0]] and whole.sizes.tolist() == [5]
    stacked = stack_slices([label_slices(pooled(), ["a", "b", "a", "b", "b"], 0.0, "anchor"), whole])
    assert stacked.names == ("anchor · a", "anchor · b", "seed")
    assert stacked.counts.tolist() == [[1, 2, 1, 0], [2, 0, 1, 0], [3, 2, 2, 0]]
    assert stacked.sizes.tolist() == [2, 3, 5]


def test_stack_refuses_mixed_inputs() -> None:
    a = whole_slice(feature_support(pooled(), 0.0), "a")
    with pytest.raises(FacError, match="pick at least one"):
        stack_slices([])
    with pytest.raises(FacError, match="same SAE"):
        stack_slices([a, SliceCounts(("b",), np.zeros((1, 3), np.int64), np.array([1]), 0.0)])
    with pytest.raises(ValueError, match="delta"):
        stack_slices([a, whole_slice(feature_support(pooled(), 1.0), "b")])


def test_top_features_by_count_then_id() -> None:
    assert top_features(np.array([3, 0, 5, 3, 1])).tolist() == [2, 0, 3, 4]
    assert top_features(np.array([3, 0, 5, 3, 1]), 2).tolist() == [2, 0]
    assert top_features(np.zeros(3)).tolist() == []
    assert top_features(np.array([3, 0, 5, 3, 1]), within={1, 3, 4}).tolist() == [3, 4]  # 1 never fires
    assert top_features(np.array([3, 0, 5, 3, 1]), 1, within=frozenset({0, 2})).tolist() == [2]


def test_frequency_groups_bands() -> None:
    fraction = np.array([0.5, 0.05, 0.1, 0.0005])
    groups = frequency_groups(np.array([0, 1, 2, 3]), fraction)
    assert groups.features.tolist() == [0, 2, 1, 3]
    assert groups.group.tolist() == [0, 0, 1, 2]
    assert groups.names == [">= 10 %", "1 %-10 %", "< 0.1 %"]


DIRECTIONS = np.array([[1, 0, 0], [2, 0, 0], [0, 1, 0], [0, 3, 0], [0, 0, 5]], dtype=np.float64)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_kmeans_finds_the_direction_groups(seed: int) -> None:
    assert kmeans_cosine(DIRECTIONS, 3, seed).tolist() == [0, 0, 1, 1, 2]
    assert kmeans_cosine(DIRECTIONS[[4, 0, 2, 1, 3]], 3, seed).tolist() == [0, 1, 2, 1, 2]


def test_kmeans_caps_k_and_checks_input() -> None:
    assert kmeans_cosine(DIRECTIONS[:2], 10).tolist() == [0, 0]
    assert kmeans_cosine(DIRECTIONS[[0, 2]], 10).tolist() == [0, 1]
    assert kmeans_cosine(DIRECTIONS, 1).tolist() == [0, 0, 0, 0, 0]
    with pytest.raises(FacError):
        kmeans_cosine(np.zeros((0, 3)), 2)
    with pytest.raises(ValueError):
        kmeans_cosine(DIRECTIONS, 0)


def test_cluster_groups_order() -> None:
    fraction = np.zeros(15)
    fraction[[10, 11, 12, 13, 14]] = [0.1, 0.3, 0.05, 0.01, 0.9]
    groups = cluster_groups(np.array([10, 11, 12, 13, 14]), DIRECTIONS, fraction, k=3)
    # Largest clusters first, ties by their most frequent feature; inside by frequency.
    assert groups.features.tolist() == [11, 10, 12, 13, 14]
    assert groups.group.tolist() == [0, 0, 1, 1, 2]
    assert groups.names == ["cluster 1 (2)", "cluster 2 (2)", "cluster 3 (1)"]


def test_label_log_odds_exact() -> None:
    # a = {0, 2} (2 samples), b = {1, 3, 4} (3 samples); at delta 0: a [1, 2, 1, 0], b [2, 0, 1, 0].
    slices = label_slices(pooled(), ["a", "b", "a", "b", "b"], 0.0)
    odds = label_log_odds(slices)
    # f1 on a: log(2.5 / 0.5) - log(0.5 / 3.5) = log 35
    assert odds[0, 1] == pytest.approx(math.log(35))
    # f0: a: log(1.5/1.5) - log(2.5/1.5); b is its negative with two labels
    assert odds[0, 0] == pytest.approx(-math.log(5 / 3))
    assert odds[1, 0] == pytest.approx(math.log(5 / 3))
    # f3 fires nowhere: log(0.5/2.5) - log(0.5/3.5) = log(7/5)
    assert odds[0, 3] == pytest.approx(math.log(7 / 5))


def test_label_log_odds_needs_two_labels() -> None:
    with pytest.raises(FacError, match="two labels"):
        label_log_odds(label_slices(pooled(), ["a"] * 5, 0.0))


def test_label_codes_are_reusable() -> None:
    codes = label_codes(["b", None, "a", "b", "a"])
    assert codes.names == (NO_LABEL, "a", "b") and codes.code.tolist() == [2, 0, 1, 2, 1]
    direct = label_slices(pooled(), ["b", None, "a", "b", "a"], 0.0)
    reused = label_slices(pooled(), codes, 0.0)
    assert reused.names == direct.names and reused.counts.tolist() == direct.counts.tolist()
