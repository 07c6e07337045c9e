"""Feature Activation Coverage (docs/METHOD.md section 1) over per-sample max-pooled sparse codes.

The workspace hands over one dataset's pooled codes as flat arrays (`PooledArrays`): one row per
(sample, feature) with g_i(x) > 0. `feature_support` reduces them to per-feature counts, sums and
maxima at a threshold delta; `compute_coverage` compares a seed set with an anchor set from those.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from fac_engine.errors import FacError, check_threshold
from fac_engine.log import get_logger
from fac_engine.workspace.datasets import PooledArrays

log = get_logger(__name__)


@dataclass(frozen=True, eq=False)
class FeatureSupport:
    """Per-feature activation statistics of one dataset at one threshold delta (only g_i(x) > delta counts)."""

    count: np.ndarray
    """int64[d_sae] number of samples x with g_i(x) > delta."""
    total: np.ndarray
    """float64[d_sae] sum of g_i(x) over those samples."""
    max: np.ndarray
    """float32[d_sae] max of g_i(x) over those samples (0 where count is 0)."""
    n_samples: int
    """Number of samples in the dataset."""
    threshold: float
    """delta: the strict activation threshold these statistics were computed at."""

    @property
    def d_sae(self) -> int:
        """Number of SAE latents."""
        return int(self.count.shape[0])

    @property
    def active(self) -> np.ndarray:
        """bool[d_sae]: the feature is activated by at least one sample (the dataset's support)."""
        return self.count > 0


@dataclass(frozen=True)
class CoverageConfig:
    """How to compare a seed set with an anchor set."""

    threshold: float = 0.0
    """delta: a feature is activated by x when g_i(x) > delta (strict); the paper sweeps 0 to 4."""
    relevant: frozenset[int] | None = None
    """The task-relevant features F; None means all d_sae features."""

    def __post_init__(self) -> None:
        # Only g > 0 entries are stored, so a negative delta would silently miss the zeros.
        check_threshold(self.threshold, "The activation threshold")
        if self.relevant is not None:
            relevant = frozenset(self.relevant)
            if any(not isinstance(i, int | np.integer) or isinstance(i, bool) or i < 0 for i in relevant):
                raise ValueError("Relevant feature ids must be non-negative integers.")
            object.__setattr__(self, "relevant", frozenset(int(i) for i in relevant))


@dataclass(frozen=True)
class CoverageResult:
    """FAC of a seed set against an anchor set, its weighted variants and the missing features."""

    fac: float
    """|F(seed) ∩ F(anchor)| / |F(anchor)| (binary FAC, the default)."""
    fac_freq: float
    """Covered share of the anchor features, each weighted by its anchor activation frequency."""
    fac_magnitude: float
    """Covered share of the anchor features, each weighted by its mean anchor activation when active."""
    anchor_features: int
    """|F(anchor)|: relevant features some anchor sample activates."""
    seed_features: int
    """|F(seed)|: relevant features some seed sample activates (may include features the anchor lacks)."""
    covered: int
    """|F(seed) ∩ F(anchor)|."""
    missing: list[int]
    """F(anchor) \\ F(seed), sorted ids: what synthesis should target."""
    threshold: float
    """delta used."""
    relevant_features: int | None
    """|F| when a relevant subset was given; None when all features count."""
    seed_samples: int
    """Number of seed samples."""
    anchor_samples: int
    """Number of anchor samples."""

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types only (floats, ints, lists), for manifests and the app."""
        return {
            "fac": float(self.fac),
            "fac_freq": float(self.fac_freq),
            "fac_magnitude": float(self.fac_magnitude),
            "anchor_features": int(self.anchor_features),
            "seed_features": int(self.seed_features),
            "covered": int(self.covered),
            "missing": [int(i) for i in self.missing],
            "threshold": float(self.threshold),
            "relevant_features": None if self.relevant_features is None else int(self.relevant_features),
            "seed_samples": int(self.seed_samples),
            "anchor_samples": int(self.anchor_samples),
        }


def feature_support(pooled: PooledArrays, threshold: float = 0.0) -> FeatureSupport:
    """Per-feature count, sum and max of g_i(x) over the samples with g_i(x) > threshold.

    Vectorised over all rows (20M rows x 65,536 features take a fraction of a second): counts by
    np.bincount, sums and maxima by unbuffered np.add.at / np.maximum.at, which numpy 2 runs
    faster than bincount with float weights.
    """
    feature, value = np.asarray(pooled.feature), np.asarray(pooled.value)
    if feature.shape != value.shape or feature.ndim != 1:
        raise FacError(f"Pooled codes have mismatched shapes: feature {feature.shape}, value {value.shape}.")
    if pooled.d_sae <= 0 or pooled.n_samples < 0:
        raise FacError(f"Pooled codes need d_sae > 0 and n_samples >= 0 (got {pooled.d_sae}, {pooled.n_samples}).")
    keep = value > threshold
    if not keep.all():
        feature, value = np.compress(keep, feature), np.compress(keep, value)
    try:
        count = np.bincount(feature, minlength=pooled.d_sae).astype(np.int64, copy=False)
    except ValueError as err:  # negative ids
        raise FacError(f"Pooled codes hold negative feature ids: {err}") from err
    if count.shape[0] > pooled.d_sae:
        raise FacError(f"Pooled codes hold feature id {count.shape[0] - 1}, but the SAE has {pooled.d_sae} latents.")
    if count.shape[0] and int(count.max()) > pooled.n_samples:
        raise FacError(
            f"Pooled codes hold {int(count.max())} rows for one feature but only {pooled.n_samples} samples; "
            "each (sample, feature) pair must appear once."
        )
    total = np.zeros(pooled.d_sae, dtype=np.float64)
    np.add.at(total, feature, value.astype(np.float64))
    peak = np.zeros(pooled.d_sae, dtype=np.float32)
    np.maximum.at(peak, feature, value.astype(np.float32, copy=False))
    return FeatureSupport(count, total, peak, int(pooled.n_samples), float(threshold))


def compute_coverage(seed: FeatureSupport, anchor: FeatureSupport, cfg: CoverageConfig) -> CoverageResult:
    """FAC of `seed` against `anchor` (docs/METHOD.md section 1), with F the relevant features of `cfg`.

    With A_i(x) = 1[g_i(x) > delta], F(S) = {i in F : some x in S has A_i(x) = 1}, A = F(anchor),
    C = F(seed) ∩ A and n_i = #{x in anchor : g_i(x) > delta}:

    - fac = |C| / |A|  (the intersection keeps it <= 1; the paper's numerator omits it)
    - fac_freq = sum_{i in C} w_i / sum_{i in A} w_i with w_i = n_i / |anchor|,
      the fraction of anchor samples activating i
    - fac_magnitude = sum_{i in C} m_i / sum_{i in A} m_i with
      m_i = (sum over anchor x with g_i(x) > delta of g_i(x)) / n_i, the mean activation when active
    - missing = A \\ F(seed), sorted.

    Both supports must be computed at `cfg.threshold`.
    """
    for name, support in (("seed", seed), ("anchor", anchor)):
        if support.threshold != cfg.threshold:
            raise ValueError(f"The {name} support was computed at delta {support.threshold}, not {cfg.threshold}.")
    if seed.d_sae != anchor.d_sae:
        raise FacError(
            f"The seed set has {seed.d_sae} features and the anchor set {anchor.d_sae}: "
            "they were encoded with different SAEs."
        )
    relevant = _relevant_mask(cfg.relevant, anchor.d_sae)
    anchor_set = anchor.active & relevant
    seed_set = seed.active & relevant
    covered_set = anchor_set & seed_set
    n_anchor = int(anchor_set.sum())
    if n_anchor == 0:
        scope = "any of the relevant features" if cfg.relevant is not None else "any feature"
        raise FacError(
            f"No anchor sample activates {scope} above delta = {cfg.threshold}; FAC is undefined. "
            "Lower the threshold, widen the relevant set or check the anchor dataset."
        )
    freq = anchor.count / max(anchor.n_samples, 1)
    magnitude = np.divide(anchor.total, anchor.count, out=np.zeros(anchor.d_sae), where=anchor.count > 0)
    n_covered = int(covered_set.sum())
    result = CoverageResult(
        fac=n_covered / n_anchor,
        fac_freq=_weighted_share(freq, covered_set, anchor_set),
        fac_magnitude=_weighted_share(magnitude, covered_set, anchor_set),
        anchor_features=n_anchor,
        seed_features=int(seed_set.sum()),
        covered=n_covered,
        missing=[int(i) for i in np.flatnonzero(anchor_set & ~seed_set)],
        threshold=float(cfg.threshold),
        relevant_features=None if cfg.relevant is None else len(cfg.relevant),
        seed_samples=seed.n_samples,
        anchor_samples=anchor.n_samples,
    )
    log.info("FAC %.4f (%d of %d anchor features, delta %s)", result.fac, n_covered, n_anchor, cfg.threshold)
    return result


def _relevant_mask(relevant: frozenset[int] | None, d_sae: int) -> np.ndarray:
    """bool[d_sae] membership in F; every id must be a latent of this SAE."""
    if relevant is None:
        return np.ones(d_sae, dtype=bool)
    ids = np.fromiter(relevant, dtype=np.int64, count=len(relevant))
    if ids.size and int(ids.max()) >= d_sae:
        raise FacError(
            f"Relevant feature id {int(ids.max())} is out of range: the SAE has {d_sae} latents (0..{d_sae - 1})."
        )
    mask = np.zeros(d_sae, dtype=bool)
    mask[ids] = True
    return mask


def _weighted_share(weight: np.ndarray, covered: np.ndarray, anchor: np.ndarray) -> float:
    """sum of weight over the covered features / sum over the anchor features.

    The denominator is > 0: every anchor feature has n_i >= 1 and values > delta >= 0.
    """
    return float(weight[covered].sum()) / float(weight[anchor].sum())
