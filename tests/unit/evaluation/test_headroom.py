"""Picking the headroom arm's real anchor rows on hand-set pooled codes: greedy cover of the missing features,
held-out candidates only, and the refusal when a picked row is in the test set."""

import numpy as np
import pytest

from fac_engine.errors import FacError
from fac_engine.evaluation.headroom import HeadroomSpec, pick_headroom
from fac_engine.evaluation.probe import TrainingSet
from fac_engine.evaluation.results import Headroom
from fac_engine.workspace.datasets import PooledArrays

# Sample -> {feature: g}: 0 {1}, 1 {2 (below delta 1), 3}, 2 {2, 3, 4}, 3 {5}, 4 nothing.
ANCHOR = PooledArrays(np.array([0, 1, 1, 2, 2, 2, 3], np.int32), np.array([1, 2, 3, 2, 3, 4, 5], np.int32),
                      np.array([2.0, 0.5, 2.0, 2.0, 2.0, 2.0, 2.0], np.float32), 5, 6)
TEXTS = ["a", "b", "c", "d", "e"]
MISSING = [2, 3, 5]


def pick(n: int, labelled: list[int] | None = None, train: list[str] | None = None,
         test: list[str] | None = None) -> Headroom:
    rows = np.arange(5) if labelled is None else np.array(labelled)
    return pick_headroom(ANCHOR, rows, TEXTS, MISSING, n, 1.0, base="seed", train_texts=train or [],
                         test_texts=test or [])


def test_greedy_cover_of_the_missing_features() -> None:
    # Above delta 1 the rows hit: 1 {3}, 2 {2, 3}, 3 {5}. Row 2 first (two new), then row 3 (one new; row 1's
    # 3 is covered already); then by features hit overall (row 1) and row order (rows 0 and 4 hit none).
    assert pick(2) == Headroom("seed", (2, 3), requested=2, n_missing=3, covered=3)
    assert pick(5).rows == (2, 3, 1, 0, 4)
    assert pick(9) == Headroom("seed", (2, 3, 1, 0, 4), requested=9, n_missing=3, covered=3)


def test_only_held_out_labelled_rows_are_candidates() -> None:
    # Row 2's text is in a training set ("C" normalises to "c"); row 3 has no label.
    assert pick(5, labelled=[0, 1, 2, 4], train=["C"]) == Headroom("seed", (1, 0, 4), 5, 3, 1)
    with pytest.raises(FacError, match="Every labelled anchor row is in a training set"):
        pick(1, labelled=[0], train=["a"])


def test_a_picked_row_in_the_test_set_is_refused() -> None:
    with pytest.raises(FacError, match=r"1 of the 2 anchor rows picked for the headroom arm are also in the test "
                                       r"set \(first: 'd'\)"):
        pick(2, test=["D!", "z"])
    assert pick(2, test=["e"]).rows == (2, 3)  # only the picked rows are checked


def test_spec() -> None:
    sets = [TrainingSet("seed", ("s",)), TrainingSet("seed + FAC", ("s", "f"))]
    assert HeadroomSpec(3).name(sets) == "seed + headroom (real)"
    assert HeadroomSpec(3, "seed + FAC").base_set(sets) == sets[1]
    with pytest.raises(FacError, match="--headroom-base 'x' is not a training set"):
        HeadroomSpec(3, "x").name(sets)
    with pytest.raises(ValueError, match="at least one row"):
        HeadroomSpec(0)
