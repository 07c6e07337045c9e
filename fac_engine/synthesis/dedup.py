"""Near-duplicate flags for synthetic candidates: against each other and against the seed/anchor.

Texts are compared as sets of word 3-gram shingles (lower-cased, punctuation dropped; texts of
fewer than 3 words use their words). Two texts are near duplicates when the Jaccard similarity of
their shingle sets reaches the threshold. An inverted index from shingle to texts keeps the
comparison to texts that share at least one shingle, so thousands of reference texts are cheap.
"""

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

NEAR_DUPLICATE_JACCARD = 0.7
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The lower-cased words of a text, punctuation dropped (what shingles are made of)."""
    return _WORD.findall(text.lower())


def shingles(text: str, n: int = 3) -> frozenset[str]:
    """Word n-gram shingles of a text (its words when it has fewer than n)."""
    tokens = words(text)
    if len(tokens) < n:
        return frozenset(tokens)
    return frozenset(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


class Match(NamedTuple):
    """The closest reference text of a candidate."""

    key: str
    """Which reference text (e.g. `seed:12`, `candidate:5`)."""
    similarity: float
    """Jaccard similarity of shingle sets, 0..1."""


class ShingleIndex:
    """Reference texts indexed by shingle, answering 'what is this text a near duplicate of?'."""

    def __init__(self, threshold: float = NEAR_DUPLICATE_JACCARD) -> None:
        if not 0 < threshold <= 1:
            raise ValueError("The near-duplicate threshold must be in (0, 1].")
        self.threshold = threshold
        self._sets: dict[str, frozenset[str]] = {}
        self._postings: dict[str, list[str]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self._sets)

    def add(self, key: str, text: str) -> None:
        """Index one reference text under `key` (a key added twice keeps its first text)."""
        if key in self._sets:
            return
        s = shingles(text)
        self._sets[key] = s
        for sh in s:
            self._postings[sh].append(key)

    def add_many(self, items: Iterable[tuple[str, str]]) -> None:
        """Index many (key, text) pairs."""
        for key, text in items:
            self.add(key, text)

    def closest(self, text: str, exclude: str | None = None) -> Match | None:
        """The most similar indexed text at or above the threshold (None when there is none)."""
        s = shingles(text)
        if not s:
            return None
        overlap: dict[str, int] = defaultdict(int)
        for sh in s:
            for key in self._postings.get(sh, ()):
                overlap[key] += 1
        best: Match | None = None
        for key, shared in overlap.items():
            if key == exclude:
                continue
            similarity = shared / (len(s) + len(self._sets[key]) - shared)
            if similarity >= self.threshold and (best is None or similarity > best.similarity):
                best = Match(key, similarity)
        return best

