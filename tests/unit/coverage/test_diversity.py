"""Text-diversity baselines on hand texts and hand vectors, and the embedded MiniLM sentence encoder.

Hand texts: "The cat sat" / "the cat ran" / "A dog" -> tokens the cat sat | the cat ran | a dog.
  unigrams: 8 in all, 6 unique (the 2, cat 2, sat, ran, a, dog)   -> distinct-1 6/8
            H1 = 2 * (1/4 * 2) + 4 * (1/8 * 3) = 2.5 bits
  bigrams:  5 in all (none across texts), 4 unique ((the, cat) twice) -> distinct-2 4/5
            H2 = 2/5 log2(5/2) + 3/5 log2(5) = log2(5) - 2/5 bits
"""

import math

import numpy as np
import pytest

from fac_engine.coverage.diversity import (
    distinct_n,
    mean_pairwise_cosine_distance,
    ngram_counts,
    ngram_entropy,
    text_diversity,
)
from fac_engine.errors import FacError

TEXTS = ["The cat sat", "the cat ran", "A dog"]


def test_distinct_n_on_hand_texts() -> None:
    assert distinct_n(TEXTS, 1) == 6 / 8
    assert distinct_n(TEXTS, 2) == 4 / 5
    assert ngram_counts(TEXTS, 2)[("the", "cat")] == 2
    assert ("sat", "the") not in ngram_counts(TEXTS, 2)


def test_ngram_entropy_in_bits_on_hand_texts() -> None:
    assert ngram_entropy(TEXTS, 1) == pytest.approx(2.5, rel=1e-12)
    assert ngram_entropy(TEXTS, 2) == pytest.approx(math.log2(5) - 0.4, rel=1e-12)


def test_texts_too_short_for_bigrams_give_zero() -> None:
    assert (distinct_n(["hi", "Hi"], 1), distinct_n(["hi", "Hi"], 2)) == (0.5, 0.0)
    assert (ngram_entropy(["hi", "Hi"], 1), ngram_entropy(["hi", "Hi"], 2)) == (0.0, 0.0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        distinct_n(TEXTS, 0)


def test_mean_pairwise_cosine_distance_on_hand_vectors() -> None:
    # Pairs: e1.e2 = 0 -> 1, e1.e3 = -1 -> 2, e2.e3 = 0 -> 1; mean 4/3. Lengths do not matter.
    vectors = np.array([[2.0, 0.0], [0.0, 3.0], [-0.5, 0.0]])
    assert mean_pairwise_cosine_distance(vectors) == pytest.approx(4 / 3, rel=1e-12)
    assert mean_pairwise_cosine_distance(np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])) == pytest.approx(
        0.0, abs=1e-12
    )
    assert mean_pairwise_cosine_distance(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(2.0, rel=1e-12)


def test_mean_pairwise_cosine_distance_matches_all_pairs() -> None:
    emb = np.random.default_rng(0).normal(size=(7, 5))
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    pairs = [1 - unit[i] @ unit[j] for i in range(7) for j in range(7) if i != j]
    assert mean_pairwise_cosine_distance(emb) == pytest.approx(float(np.mean(pairs)), rel=1e-12)


def test_cosine_distance_refuses_degenerate_input() -> None:
    with pytest.raises(FacError, match="at least two embeddings"):
        mean_pairwise_cosine_distance(np.ones((1, 3)))
    with pytest.raises(FacError, match="zero length"):
        mean_pairwise_cosine_distance(np.array([[1.0, 0.0], [0.0, 0.0]]))


def test_text_diversity_collects_every_baseline() -> None:
    vectors = {"The cat sat": [1.0, 0.0], "the cat ran": [0.0, 1.0], "A dog": [-1.0, 0.0]}
    result = text_diversity(TEXTS, embed=lambda texts: np.array([vectors[t] for t in texts]))
    assert result.to_json_dict() == {
        "n_texts": 3,
        "n_tokens": 8,
        "distinct_1": 0.75,
        "distinct_2": 0.8,
        "entropy_1": pytest.approx(2.5, rel=1e-12),
        "entropy_2": pytest.approx(math.log2(5) - 0.4, rel=1e-12),
        "mean_cosine_distance": pytest.approx(4 / 3, rel=1e-12),
    }
    assert text_diversity(TEXTS).mean_cosine_distance is None
    assert text_diversity(["one text"], embed=lambda texts: np.ones((1, 2))).mean_cosine_distance is None
    with pytest.raises(FacError, match="at least one text"):
        text_diversity([])


def test_minilm_embeds_identical_texts_identically() -> None:
    from fac_engine.models.sentence import SENTENCE_DIM, load_sentence_encoder

    encoder = load_sentence_encoder("cpu")
    texts = ["The cat sat on the mat.", "The cat sat on the mat.", "Quarterly revenue rose by four percent."]
    emb = encoder.embed(texts, batch_size=2)
    assert emb.shape == (3, SENTENCE_DIM) == (3, 384) and emb.dtype == np.float32
    assert np.linalg.norm(emb, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert mean_pairwise_cosine_distance(emb[:2]) == pytest.approx(0.0, abs=1e-5)
    assert mean_pairwise_cosine_distance(emb[1:]) > 0.5
    # Padding inside a batch must not move an embedding.
    assert np.allclose(encoder.embed(texts[2:], batch_size=1)[0], emb[2], atol=1e-5)
