"""Text-diversity baselines that FAC is compared with (docs/METHOD.md section 5): distinct-n,
n-gram entropy and mean pairwise cosine distance of sentence embeddings.

Tokens are `text.lower().split()`; n-grams never cross text boundaries. The embedding model is
passed in as a function (`load_sentence_encoder().embed`), so this module stays model-free.
"""

import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fac_engine.errors import FacError
from fac_engine.log import get_logger

EmbedFn = Callable[[Sequence[str]], np.ndarray]
"""texts -> float[N, D] sentence embeddings (normalised or not)."""

log = get_logger(__name__)


@dataclass(frozen=True)
class DiversityResult:
    """Diversity baselines of one list of texts."""

    n_texts: int
    """Number of texts."""
    n_tokens: int
    """Number of whitespace tokens over all texts."""
    distinct_1: float
    """Unique unigrams / total unigrams (0.0 when there are no tokens)."""
    distinct_2: float
    """Unique bigrams / total bigrams (0.0 when no text has two tokens)."""
    entropy_1: float
    """Shannon entropy in bits of the corpus unigram frequency distribution."""
    entropy_2: float
    """Shannon entropy in bits of the corpus bigram frequency distribution."""
    mean_cosine_distance: float | None
    """Mean over ordered pairs i != j of 1 - cos(e_i, e_j); None without embeddings or with < 2 texts."""

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types only."""
        return asdict(self)


def tokenize(text: str) -> list[str]:
    """Lowercased whitespace tokens."""
    return text.lower().split()


def ngram_counts(texts: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """How often each n-gram occurs over all texts (n-grams stay inside one text)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, not {n}.")
    return Counter(_ngrams(texts, n))


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n: number of unique n-grams / total number of n-grams (0.0 when there are none)."""
    return _distinct(ngram_counts(texts, n))


def ngram_entropy(texts: Sequence[str], n: int) -> float:
    """Shannon entropy in bits, H = -sum_g p(g) log2 p(g), with p(g) = count(g) / total n-grams."""
    return _entropy(ngram_counts(texts, n))


def mean_pairwise_cosine_distance(embeddings_ND: np.ndarray) -> float:
    """Mean of 1 - cos(e_i, e_j) over all ordered pairs i != j, exactly, in O(N D).

    With unit rows u_i and s = sum_i u_i, sum_{i != j} u_i . u_j = ||s||^2 - N, so the mean
    distance is 1 - (||s||^2 - N) / (N (N - 1)); the N x N matrix is never formed.
    """
    emb_ND = np.asarray(embeddings_ND, dtype=np.float64)
    if emb_ND.ndim != 2 or emb_ND.shape[0] < 2:
        raise FacError(f"Mean pairwise cosine distance needs at least two embeddings, got shape {emb_ND.shape}.")
    norms_N = np.linalg.norm(emb_ND, axis=1)
    if not np.all(norms_N > 0):
        raise FacError("An embedding has zero length; its cosine distance is undefined.")
    n = emb_ND.shape[0]
    total_D = (emb_ND / norms_N[:, None]).sum(axis=0)
    similarity = (float(total_D @ total_D) - n) / (n * (n - 1))
    # Rounding can push identical vectors a hair below 0.
    return max(0.0, 1.0 - similarity)


def text_diversity(texts: Sequence[str], embed: EmbedFn | None = None) -> DiversityResult:
    """All baselines for `texts`; the cosine distance only when `embed` is given and there are >= 2 texts."""
    if not texts:
        raise FacError("Text diversity needs at least one text.")
    distance = mean_pairwise_cosine_distance(embed(texts)) if embed is not None and len(texts) >= 2 else None
    unigrams, bigrams = ngram_counts(texts, 1), ngram_counts(texts, 2)
    result = DiversityResult(
        n_texts=len(texts),
        n_tokens=unigrams.total(),
        distinct_1=_distinct(unigrams),
        distinct_2=_distinct(bigrams),
        entropy_1=_entropy(unigrams),
        entropy_2=_entropy(bigrams),
        mean_cosine_distance=distance,
    )
    log.info(
        "Diversity of %d texts: distinct-1 %.4f, distinct-2 %.4f", len(texts), result.distinct_1, result.distinct_2
    )
    return result


def _ngrams(texts: Sequence[str], n: int) -> Iterator[tuple[str, ...]]:
    """Every n-gram of every text, in order."""
    for text in texts:
        tokens = tokenize(text)
        yield from zip(*(tokens[i:] for i in range(n)), strict=False)


def _distinct(counts: Counter[tuple[str, ...]]) -> float:
    """Unique / total n-grams (0.0 when there are none)."""
    total = counts.total()
    return len(counts) / total if total else 0.0


def _entropy(counts: Counter[tuple[str, ...]]) -> float:
    """Shannon entropy in bits of the n-gram frequency distribution (0.0 when there are none)."""
    total = counts.total()
    return -sum((c / total) * math.log2(c / total) for c in counts.values()) if total else 0.0
