"""Exact and near-duplicate removal for the training corpus (MinHash over word 3-grams, LSH bands).

Benchmarks reuse passages across questions and tasks, jailbreak templates differ by a word,
and one data set often ships inside another package. Repeats would spend the SAE's capacity
on a few texts, so the first occurrence (in reading order) is kept and later copies dropped.
Hashes are blake2b / fixed-seed universal hashes, so a build is the same on every run.
"""

import hashlib
import re
from collections.abc import Sequence

import numpy as np

NUM_PERMUTATIONS = 64
"""MinHash signature length."""
BANDS = 8
"""LSH bands of 64 / 8 = 8 rows: texts whose word 3-gram Jaccard similarity is 0.8 are caught with
probability 1 - (1 - 0.8^8)^8 = 0.77, at 0.9 with 0.99, at 0.5 with 0.03."""
SHINGLE_WORDS = 3
"""Words per shingle; texts shorter than this are one shingle."""

_PRIME = np.uint64(4_294_967_291)  # the largest prime below 2^32: a * h + b < 2^64 never overflows
_NON_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Lower case, punctuation and runs of spaces folded to one space: the key of exact duplicates."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def key_of(text: str) -> bytes:
    """An 8-byte digest of the normalised text (deterministic across runs, unlike `hash`)."""
    return hashlib.blake2b(normalise(text).encode(), digest_size=8).digest()


class SeenKeys:
    """Remembers digests; `first(text)` is True only the first time a normalised text comes."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def first(self, text: str) -> bool:
        """Record `text`; False when an equal text (after `normalise`) was recorded before."""
        key = key_of(text)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")


def _shingles(text: str, cache: dict[str, int]) -> list[int]:
    hashes: list[int] = []
    for word in normalise(text).split():
        h = cache.get(word)
        if h is None:
            h = cache[word] = _word_hash(word)
        hashes.append(h)
    if len(hashes) < SHINGLE_WORDS:
        return [sum(h * 31**i for i, h in enumerate(hashes)) & 0xFFFFFFFF]
    return [(a * 0x9E3779B1 + b * 0x85EBCA77 + c) & 0xFFFFFFFF
            for a, b, c in zip(hashes, hashes[1:], hashes[2:], strict=False)]


def _universal(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(1, 2**32 - 5, NUM_PERMUTATIONS, dtype=np.uint64),
            rng.integers(0, 2**32 - 5, NUM_PERMUTATIONS, dtype=np.uint64))


def band_keys(texts: Sequence[str], seed: int = 0) -> np.ndarray:
    """[BANDS, N] uint64: per LSH band, a digest of the band's rows of each text's MinHash signature.

    The signature (NUM_PERMUTATIONS minima of universal hashes over the text's word 3-grams) is
    never stored whole: each band's rows are folded into one key as soon as they are computed.
    """
    cache: dict[str, int] = {}
    lengths = np.empty(len(texts), dtype=np.int64)
    flat: list[int] = []
    for i, text in enumerate(texts):
        shingles = _shingles(text, cache)
        lengths[i] = len(shingles)
        flat.extend(shingles)
    keys = np.zeros((BANDS, len(texts)), dtype=np.uint64)
    if not texts:
        return keys
    values = np.asarray(flat, dtype=np.uint64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    a, b = _universal(seed)
    mix = np.random.default_rng(seed + 1).integers(1, 2**63, NUM_PERMUTATIONS, dtype=np.uint64) | np.uint64(1)
    rows = NUM_PERMUTATIONS // BANDS
    for p in range(NUM_PERMUTATIONS):
        minima = np.minimum.reduceat((a[p] * values + b[p]) % _PRIME, starts)
        keys[p // rows] += minima * mix[p]  # wraps mod 2^64: a digest, not a sum that must not overflow
    return keys


def near_duplicates(texts: Sequence[str], seed: int = 0) -> np.ndarray:
    """[N] bool: True where some earlier text shares all MinHash values of at least one LSH band.

    A text is compared with every earlier text, kept or not, so a chain of small edits is dropped
    after its first member (the usual LSH clustering behaviour).
    """
    keys = band_keys(texts, seed)
    order = np.arange(len(texts))
    duplicate = np.zeros(len(texts), dtype=bool)
    for band in keys:
        _, first, inverse = np.unique(band, return_index=True, return_inverse=True)
        duplicate |= first[inverse] != order
    return duplicate
