"""Per-category recall and AUPRC on hand-set probe scores (the values are worked out in the comments)."""

import math

import numpy as np
import pytest

from fac_engine.evaluation.categories import CategoryCount, CategoryScore, category_index, category_scores

POSITIVE = np.array([True, True, True, False, False, False, True])
CATEGORY = ["a", "a", "b", "a", "c", None, math.nan]
SCORES = np.array([0.9, 0.3, 0.6, 0.4, 0.2, 0.7, 0.8])


def test_only_categories_with_positive_rows_count() -> None:
    index = category_index(CATEGORY, POSITIVE)
    # "c" holds only a negative row; None and NaN are no category (the last row counts overall only).
    assert index.categories == (CategoryCount("a", 2), CategoryCount("b", 1))
    assert index.of_row.tolist() == [0, 0, 1, 0, -1, -1, -1]
    assert category_index(["", "x"], np.array([True, False])).categories == ()


def test_recall_at_the_threshold_and_auprc_against_all_negatives() -> None:
    scores = category_scores(category_index(CATEGORY, POSITIVE), POSITIVE, SCORES, 0.5)
    # a: positives 0.9 and 0.3 among the negatives 0.7, 0.4, 0.2 -> ranks 1 and 4: AP = (1 + 2/4) / 2;
    # recall at 0.5: 0.9 only. b: 0.6 ranks second, under the negative 0.7: AP 1/2, recall 1.
    assert scores == (CategoryScore("a", 0.5, pytest.approx(0.75)), CategoryScore("b", 1.0, 0.5))
    assert [s.recall for s in category_scores(category_index(CATEGORY, POSITIVE), POSITIVE, SCORES, 0.95)] == [0, 0]
