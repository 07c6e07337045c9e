"""Near-duplicate flags by word 3-gram Jaccard similarity."""

import pytest

from fac_engine.synthesis.dedup import ShingleIndex, shingles


def test_shingles() -> None:
    assert shingles("The cat, the CAT sat!") == frozenset({"the cat the", "cat the cat", "the cat sat"})
    assert shingles("hi there") == frozenset({"hi", "there"})


def test_closest_by_jaccard() -> None:
    index = ShingleIndex(threshold=0.5)
    index.add_many([("seed:0", "the cat sat on the mat"), ("seed:1", "hello world again")])
    # shingles: {the cat sat, cat sat on, sat on the, on the mat} vs {the cat sat, cat sat on, sat on a, on a mat}
    assert index.closest("the cat sat on a mat") is None  # 2 shared of 6: 1/3 < 0.5
    assert ShingleIndex(threshold=0.3).closest("the cat sat on a mat") is None  # empty index
    match = index.closest("The cat sat on the mat today")
    assert match is not None and match.key == "seed:0" and match.similarity == pytest.approx(4 / 5)
    assert index.closest("something else entirely") is None and len(index) == 2


def test_threshold_is_checked() -> None:
    with pytest.raises(ValueError):
        ShingleIndex(threshold=0)
