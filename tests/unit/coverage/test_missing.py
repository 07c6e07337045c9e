"""The missing-features table and its filters, with hand-computed values."""

import math

import numpy as np
import pytest

from fac_engine.coverage.fac import PooledArrays, feature_support
from fac_engine.coverage.missing import MissingFilter, filter_missing, label_names, missing_frame
from fac_engine.coverage.slices import label_slices

# sample 0: f0 1.0, f1 0.5 | sample 1: f0 2.0 | sample 2: f2 3.0, f1 1.5 | sample 3: nothing | sample 4: f0 0.2, f2 1.0
POOLED = PooledArrays(np.array([0, 0, 1, 2, 2, 4, 4], np.int32), np.array([0, 1, 0, 2, 1, 0, 2], np.int32),
                      np.array([1.0, 0.5, 2.0, 3.0, 1.5, 0.2, 1.0], np.float32), n_samples=5, d_sae=4)
LABELS = ["a", "b", "a", "b", "b"]


def frame(**kwargs: object):  # type: ignore[no-untyped-def]
    support = feature_support(POOLED, 0.0)
    return missing_frame([2, 0, 1], support, label_slices(POOLED, LABELS, 0.0),
                         explanations={0: "the word THE", 2: "dogs and cats"}, **kwargs)  # type: ignore[arg-type]


def test_missing_frame_values() -> None:
    out = frame()
    assert out["feature"].tolist() == [0, 1, 2]  # by anchor count (3, 2, 2), ties by id
    assert out["anchor_samples"].tolist() == [3, 2, 2]
    assert out["anchor_frequency"].tolist() == [0.6, 0.4, 0.4]
    assert out["mean_activation"].tolist() == pytest.approx([(1.0 + 2.0 + 0.2) / 3, 1.0, 2.0])
    assert out["max_activation"].tolist() == [2.0, 1.5, 3.0]
    assert out["label"].tolist() == ["b", "a", "a"]
    assert out["log_odds"].tolist() == pytest.approx([math.log(5 / 3), math.log(35), math.log(5 / 3)])
    assert out["log_odds:a"].tolist() == pytest.approx([-math.log(5 / 3), math.log(35), math.log(5 / 3)])
    assert out["explanation"].tolist() == ["the word THE", "", "dogs and cats"]
    assert "relevance" not in out
    assert label_names(out) == ["a", "b"]


def test_missing_frame_relevance_and_no_labels() -> None:
    support = feature_support(POOLED, 0.0)
    out = missing_frame([1], support, None, None, relevance={1: 0.75})
    assert out.columns.tolist() == ["feature", "anchor_samples", "anchor_frequency", "mean_activation",
                                    "max_activation", "explanation", "relevance"]
    assert out["relevance"].tolist() == [0.75]
    empty = missing_frame([], support, label_slices(POOLED, LABELS, 0.0))
    assert len(empty) == 0 and "log_odds:b" in empty


def test_filters() -> None:
    out = frame(relevance={0: 1.0, 2: 0.5})
    assert filter_missing(out, MissingFilter(min_frequency=0.5))["feature"].tolist() == [0]
    assert filter_missing(out, MissingFilter(label="a", min_log_odds=1.0))["feature"].tolist() == [1]
    assert filter_missing(out, MissingFilter(label="b", min_log_odds=0.0))["feature"].tolist() == [0]
    assert filter_missing(out, MissingFilter(text="the"))["feature"].tolist() == [0]
    assert filter_missing(out, MissingFilter(text="CATS dogs"))["feature"].tolist() == [2]
    assert filter_missing(out, MissingFilter(min_relevance=0.6))["feature"].tolist() == [0]
    assert filter_missing(out, MissingFilter(label="zzz", min_log_odds=9.0))["feature"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="between 0 and 1"):
        MissingFilter(min_frequency=2.0)
