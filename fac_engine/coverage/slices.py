"""Per-slice feature activation for the coverage heatmap and the missing-features table.

A slice is a set of samples: a whole dataset, or the samples of one label inside it. For each
slice and feature we count the samples with g_i(x) > delta (docs/METHOD.md section 1), order the
features so the heatmap has structure (activation-frequency bands, or k-means clusters of the SAE
decoder directions), and score how strongly a feature prefers one label of the anchor over the
others (smoothed log-odds, the offline "label contrast" of section 3). Everything is vectorised:
one bincount over all pooled rows, never a Python loop over features.
"""

import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from fac_engine.coverage.fac import FeatureSupport, PooledArrays
from fac_engine.errors import FacError

NO_LABEL = "(no label)"
"""Slice name of the samples whose label is missing."""
SEPARATOR = " · "
"""Between a dataset's name and a label in a slice name: `anchor · toxic`."""
FREQUENCY_BANDS = (0.1, 0.01, 0.001)
"""Lower edges of the activation-frequency bands, strongest first (>= 10 %, 1-10 %, 0.1-1 %, < 0.1 %)."""
LOG_ODDS_ALPHA = 0.5
"""Pseudo-count added to each cell of the 2x2 table (Haldane-Anscombe), so empty cells give finite log-odds."""


@dataclass(frozen=True, eq=False)
class SliceCounts:
    """How many samples of each slice activate each feature at one threshold."""

    names: tuple[str, ...]
    """Slice names, one per row of `counts`."""
    counts: np.ndarray
    """int64[S, d_sae]: samples of slice s with g_i(x) > threshold."""
    sizes: np.ndarray
    """int64[S]: samples in slice s."""
    threshold: float
    """delta the counts were taken at."""

    def __post_init__(self) -> None:
        if self.counts.ndim != 2 or self.counts.shape[0] != len(self.names) or self.sizes.shape != (
                len(self.names),):
            raise ValueError(f"{len(self.names)} slice names do not fit counts {self.counts.shape} "
                             f"and sizes {self.sizes.shape}.")

    @property
    def d_sae(self) -> int:
        """Number of SAE features."""
        return int(self.counts.shape[1])

    @property
    def fractions(self) -> np.ndarray:
        """float64[S, d_sae]: share of the slice's samples activating the feature (0 for an empty slice)."""
        size = self.sizes[:, None].astype(np.float64)
        return np.divide(self.counts, size, out=np.zeros(self.counts.shape), where=size > 0)


def label_name(label: object) -> str:
    """A label as a slice name: missing (None, NaN) becomes NO_LABEL, anything else its str()."""
    if label is None or (isinstance(label, float) and math.isnan(label)):
        return NO_LABEL
    return str(label)


class LabelCodes(NamedTuple):
    """Each sample's label as an index into the sorted distinct label names."""

    names: tuple[str, ...]
    """Distinct label names (label_name of each label), sorted."""
    code: np.ndarray
    """int64[n_samples] index into `names` of each sample's label."""


def label_codes(labels: Sequence[object] | np.ndarray) -> LabelCodes:
    """The distinct label names and each sample's index into them (threshold-independent: compute once)."""
    names = np.array([label_name(v) for v in labels], dtype=str)
    uniques, code = np.unique(names, return_inverse=True)
    return LabelCodes(tuple(str(u) for u in uniques), code.astype(np.int64).reshape(-1))


def label_slices(pooled: PooledArrays, labels: Sequence[object] | np.ndarray | LabelCodes, threshold: float,
                 prefix: str = "") -> SliceCounts:
    """One slice per distinct label (sorted by name), named `prefix · label` (just `label` without a prefix).

    `labels[s]` is sample s's label (or their precomputed LabelCodes); the pooled rows must carry
    sample ids.
    """
    if pooled.sample is None:
        raise FacError("Label slices need the pooled rows' sample ids (pooled_arrays(with_samples=True)).")
    codes = labels if isinstance(labels, LabelCodes) else label_codes(labels)
    if codes.code.size != pooled.n_samples:
        raise FacError(f"{codes.code.size} labels for {pooled.n_samples} samples; give one label per sample.")
    d_sae, n_slices = pooled.d_sae, len(codes.names)
    keep = np.asarray(pooled.value) > threshold
    sample, feature = np.asarray(pooled.sample)[keep], np.asarray(pooled.feature)[keep]
    flat = codes.code[sample] * d_sae + feature.astype(np.int64)
    counts = np.bincount(flat, minlength=n_slices * d_sae).reshape(n_slices, d_sae).astype(np.int64)
    sizes = np.bincount(codes.code, minlength=n_slices).astype(np.int64)
    names = tuple(f"{prefix}{SEPARATOR}{u}" if prefix else u for u in codes.names)
    return SliceCounts(names, counts, sizes, float(threshold))


def whole_slice(support: FeatureSupport, name: str) -> SliceCounts:
    """A whole dataset as one slice, from its support at delta."""
    return SliceCounts((name,), support.count[None, :].astype(np.int64), np.array([support.n_samples], np.int64),
                       support.threshold)


def stack_slices(parts: Sequence[SliceCounts]) -> SliceCounts:
    """The slices of several parts, in order; all must share d_sae and the threshold."""
    if not parts:
        raise FacError("No slices to stack: pick at least one dataset.")
    for part in parts[1:]:
        if part.d_sae != parts[0].d_sae:
            raise FacError(f"Slices with {part.d_sae} and {parts[0].d_sae} features cannot be compared; "
                           "encode every dataset with the same SAE.")
        if part.threshold != parts[0].threshold:
            raise ValueError(f"Slices taken at delta {part.threshold} and {parts[0].threshold} cannot be stacked.")
    return SliceCounts(tuple(n for p in parts for n in p.names), np.concatenate([p.counts for p in parts]),
                       np.concatenate([p.sizes for p in parts]), parts[0].threshold)


def top_features(count_F: np.ndarray, top_n: int | None = None, within: Collection[int] | None = None
                 ) -> np.ndarray:
    """Features with count > 0 (only those in `within` when given, e.g. the task-relevant set), most active first
    (ties by id), at most `top_n` of them (all when None)."""
    count_F = np.asarray(count_F)
    active = np.flatnonzero(count_F > 0)
    if within is not None:
        active = active[np.isin(active, np.fromiter(within, dtype=np.int64, count=len(within)))]
    order = active[np.lexsort((active, -count_F[active]))]
    return order if top_n is None else order[: max(int(top_n), 0)]


class FeatureGroups(NamedTuple):
    """Features in display order, each with the group it is drawn in."""

    features: np.ndarray
    """int64[N] feature ids in display order."""
    group: np.ndarray
    """int64[N] group index of each feature; groups are contiguous and numbered in display order."""
    names: list[str]
    """Name of each group."""


def frequency_groups(features: np.ndarray, fraction_F: np.ndarray,
                     bands: Sequence[float] = FREQUENCY_BANDS) -> FeatureGroups:
    """Features by activation frequency (descending, ties by id) in bands between the `bands` edges.

    Only non-empty bands are kept, so group numbers run 0..G-1 in display order.
    """
    features = np.asarray(features, dtype=np.int64)
    frac = np.asarray(fraction_F, dtype=np.float64)[features]
    order = np.lexsort((features, -frac))
    features, frac = features[order], frac[order]
    edges = sorted(bands, reverse=True)
    band = np.searchsorted(-np.asarray(edges, dtype=np.float64), -frac, side="left")
    labels = [f">= {_pct(edges[0])}", *(f"{_pct(lo)}-{_pct(hi)}" for hi, lo in itertools.pairwise(edges)),
              f"< {_pct(edges[-1])}"]
    used, group = np.unique(band, return_inverse=True)
    return FeatureGroups(features, group.astype(np.int64), [labels[b] for b in used])


def _pct(x: float) -> str:
    return f"{100 * x:g} %"


def kmeans_cosine(X_ND: np.ndarray, k: int, seed: int = 0, iters: int = 100) -> np.ndarray:
    """Spherical k-means: cluster index (0..k'-1) of each row of X by cosine similarity.

    Rows are L2-normalised; k-means++ seeding with a numpy Generator(seed), then assignment to the
    most similar centre and centres as normalised means until nothing moves. An emptied cluster
    is re-seeded with the row least similar to its centre. k is capped at the number of rows;
    clusters are renumbered by first appearance so the result does not depend on seeding order.
    """
    X_ND = np.asarray(X_ND, dtype=np.float64)
    n = X_ND.shape[0]
    if X_ND.ndim != 2 or n == 0:
        raise FacError(f"k-means needs a non-empty matrix of directions, got shape {X_ND.shape}.")
    if k < 1:
        raise ValueError(f"k must be >= 1, not {k}.")
    norms = np.linalg.norm(X_ND, axis=1, keepdims=True)
    U_ND = np.divide(X_ND, norms, out=np.zeros_like(X_ND), where=norms > 0)
    k = min(k, n)
    rng = np.random.default_rng(seed)
    centres = [int(rng.integers(n))]
    dist_N = 1.0 - U_ND @ U_ND[centres[0]]
    for _ in range(1, k):
        weight = np.clip(dist_N, 0.0, None)
        pick = int(rng.choice(n, p=weight / weight.sum())) if weight.sum() > 0 else int(rng.integers(n))
        centres.append(pick)
        dist_N = np.minimum(dist_N, 1.0 - U_ND @ U_ND[pick])
    C_KD = U_ND[centres].copy()
    assign = np.full(n, -1, dtype=np.int64)
    for _ in range(iters):
        sim_NK = U_ND @ C_KD.T
        new = sim_NK.argmax(axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
        sums_KD = np.zeros_like(C_KD)
        np.add.at(sums_KD, assign, U_ND)
        sizes = np.bincount(assign, minlength=k)
        empty = np.flatnonzero(sizes == 0)
        if empty.size:  # re-seed with the rows farthest from their own centre
            far = np.argsort(sim_NK[np.arange(n), assign], kind="stable")[: empty.size]
            sums_KD[empty] = U_ND[far]
        lengths = np.linalg.norm(sums_KD, axis=1, keepdims=True)
        C_KD = np.divide(sums_KD, lengths, out=C_KD.copy(), where=lengths > 0)
    _, first = np.unique(assign, return_index=True)
    renumber = np.empty(int(assign.max()) + 1, dtype=np.int64)
    renumber[assign[np.sort(first)]] = np.arange(first.size)
    return renumber[assign]


def cluster_groups(features: np.ndarray, directions_ND: np.ndarray, fraction_F: np.ndarray, k: int,
                   seed: int = 0) -> FeatureGroups:
    """Features grouped by k-means on their decoder directions (row n of `directions_ND` is features[n]).

    Clusters are shown largest first (ties: the cluster holding the most frequent feature first);
    inside a cluster, most frequent first, ties by id.
    """
    features = np.asarray(features, dtype=np.int64)
    if directions_ND.shape[0] != features.size:
        raise ValueError(f"{directions_ND.shape[0]} directions for {features.size} features.")
    cluster = kmeans_cosine(directions_ND, k, seed)
    frac = np.asarray(fraction_F, dtype=np.float64)[features]
    size = np.bincount(cluster)
    best = np.full(size.size, -1.0)
    np.maximum.at(best, cluster, frac)
    cluster_order = np.lexsort((np.arange(size.size), -best, -size))
    rank = np.empty_like(cluster_order)
    rank[cluster_order] = np.arange(cluster_order.size)
    order = np.lexsort((features, -frac, rank[cluster]))
    group = rank[cluster][order]
    names = [f"cluster {g + 1} ({int(size[c])})" for g, c in enumerate(cluster_order)]
    return FeatureGroups(features[order], group, names)


def label_log_odds(slices: SliceCounts, alpha: float = LOG_ODDS_ALPHA) -> np.ndarray:
    """float64[S, d_sae]: smoothed log-odds ratio of firing on slice s versus all the other slices.

    With a = samples of s activating i, n = samples in s, b and m the same for the other slices:
    log((a + alpha) / (n - a + alpha)) - log((b + alpha) / (m - b + alpha)). Positive: the feature
    fires relatively more often on s.
    """
    if len(slices.names) < 2:
        raise FacError("Label association needs at least two labels in the anchor set.")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, not {alpha}.")
    a = slices.counts.astype(np.float64)
    n = slices.sizes.astype(np.float64)[:, None]
    b = a.sum(axis=0, keepdims=True) - a
    m = n.sum() - n
    return np.log((a + alpha) / (n - a + alpha)) - np.log((b + alpha) / (m - b + alpha))

