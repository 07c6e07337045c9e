"""The headroom arm: a training set plus real held-out anchor rows that cover the features it misses.

How far could covering the missing features lift the probe if the data were real? `fac evaluate --headroom N`
answers next to the synthetic arms. It adds to a base set (the first training set, or the one named) N
labelled anchor rows chosen greedily (calibrate.greedy_cover) to activate as many as possible of the base
set's missing features: the anchor features (the relevant ones, when given) that no sample of the base set
activates. The rows are real data, so the arm is an upper reference for a synthesis of the same size,
labelled "(real)" wherever it is shown, and never part of a synthesis arm. The rows are held out: an anchor
row whose text (normalised as in data/corpora/dedup.py) is in any training set is never a candidate, and a
picked row whose text is in the test set stops the evaluation, since the arm would be scored on rows it
trained on.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from fac_engine.data.corpora.dedup import normalise
from fac_engine.errors import FacError
from fac_engine.evaluation.calibrate import greedy_cover, row_hits
from fac_engine.evaluation.probe import TrainingSet
from fac_engine.evaluation.results import Headroom
from fac_engine.log import get_logger
from fac_engine.workspace.datasets import PooledArrays

log = get_logger(__name__)

REAL = " + headroom (real)"
"""Appended to the base set's name: the arm's name says it is real data wherever it is shown."""


@dataclass(frozen=True)
class HeadroomSpec:
    """What `--headroom N [--headroom-base NAME]` asks for."""

    n: int
    """Real anchor rows to add."""
    base: str | None = None
    """Name of the training set they are added to; None: the first one."""

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"The headroom arm needs at least one row, not {self.n}.")

    def base_set(self, sets: Sequence[TrainingSet]) -> TrainingSet:
        """The training set the rows are added to; FacError when the named one is not among `sets`."""
        if self.base is None:
            return sets[0]
        for s in sets:
            if s.name == self.base:
                return s
        raise FacError(f"--headroom-base {self.base!r} is not a training set (the sets: "
                       f"{', '.join(repr(s.name) for s in sets)}).")

    def name(self, sets: Sequence[TrainingSet]) -> str:
        """The arm's display name, e.g. "seed + headroom (real)"."""
        return self.base_set(sets).name + REAL


def _keys(texts: Iterable[str]) -> set[str]:
    return {normalise(t) for t in texts}


def pick_headroom(anchor: PooledArrays, labelled: np.ndarray, anchor_texts: Sequence[str], missing: Iterable[int],
                  n: int, threshold: float, *, base: str, train_texts: Iterable[str],
                  test_texts: Iterable[str]) -> Headroom:
    """Pick up to `n` of the anchor's `labelled` rows that no training set holds, greedily covering `missing`
    (ties: earlier rows first); FacError when no row is held out or a picked row's text is in the test set."""
    held_keys = _keys(train_texts)
    candidates = np.array([r for r in np.asarray(labelled, np.int64).tolist()
                           if normalise(anchor_texts[r]) not in held_keys], np.int64)
    if candidates.size == 0:
        raise FacError("Every labelled anchor row is in a training set: none is held out for the headroom arm.")
    wanted = frozenset(int(f) for f in missing)
    hits = row_hits(anchor, candidates, wanted, threshold)
    picks = greedy_cover(hits, n, np.arange(candidates.size))
    rows = candidates[picks]
    test_keys = _keys(test_texts)
    in_test = [anchor_texts[r] for r in rows.tolist() if normalise(anchor_texts[r]) in test_keys]
    if in_test:
        raise FacError(f"{len(in_test)} of the {rows.size} anchor rows picked for the headroom arm are also in the "
                       f"test set (first: {in_test[0][:80]!r}); a held-out reference must not train on test rows. "
                       "Remove them from the anchor or the test set and encode it again.")
    covered = len(frozenset().union(*(hits[i] for i in picks)))
    if rows.size < n:
        log.warning("headroom: only %d anchor rows are held out from the training sets (%d asked for)", rows.size, n)
    log.info("headroom: %d real anchor rows cover %d of the %d features %s misses", rows.size, covered, len(wanted),
             base)
    return Headroom(base=base, rows=tuple(int(r) for r in rows), requested=n, n_missing=len(wanted), covered=covered)
