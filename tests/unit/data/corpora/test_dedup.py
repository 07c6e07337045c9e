"""Exact keys after normalising, and MinHash LSH near-duplicates: edits caught, other texts kept, order respected."""

import numpy as np

from fac_engine.data.corpora.dedup import BANDS, SeenKeys, band_keys, near_duplicates, normalise

BASE = ("the quick brown fox jumps over the lazy dog while the farmer watches from the old wooden porch "
        "and drinks a cup of tea before the rain comes in from the hills")


def test_normalise_folds_case_punctuation_and_spaces() -> None:
    assert normalise("  Hello,   WORLD!! it's_me ") == "hello world it s me"


def test_seen_keys_first_occurrence_only() -> None:
    seen = SeenKeys()
    assert [seen.first(t) for t in ("Hello!", "hello", "Hello there", "HELLO?!")] == [True, False, True, False]


def test_near_duplicates_catch_small_edits_only() -> None:
    texts = [
        BASE,
        "A completely different sentence about cooking pasta with garlic and olive oil for dinner tonight.",
        BASE.replace("farmer", "old farmer"),  # one word inserted: Jaccard of 3-grams about 0.9
        BASE + " today",
        "Short text.",
        "short text",  # exact after normalising: the same single shingle
        " ".join(reversed(BASE.split())),  # same words, other order: shares no 3-gram
    ]
    assert near_duplicates(texts).tolist() == [False, False, True, True, False, True, False]


def test_band_keys_are_deterministic_and_seeded() -> None:
    texts = [BASE, "another text entirely, with words of its own"]
    keys = band_keys(texts)
    assert keys.shape == (BANDS, 2) and keys.dtype == np.uint64
    assert np.array_equal(keys, band_keys(texts))
    assert not np.array_equal(keys, band_keys(texts, seed=1))
    assert band_keys([]).shape == (BANDS, 0) and near_duplicates([]).tolist() == []
