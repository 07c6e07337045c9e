"""FAC calibration: does FAC, with this SAE, threshold and relevant set, track downstream quality on this task?

Before anyone synthesises for FAC's missing features they should know whether covering them helps. The
test uses only real data (docs/METHOD.md section 5): a share of the anchor's positive rows is held out;
the rest stays the reference anchor that FAC is measured against. Training sets are the seed plus k
held-out rows chosen to cover as many of the seed's missing features as possible ("covers missing"),
or k held-out rows that cover none of them ("covers none"); with a category column also k rows from
categories the seed's positives lack or have. Each set gets its FAC variants at every delta (on the
relevant features and on all) and a probe's AUPRC on the untouched test set over several seeds; the
Pearson and Spearman r of each FAC variant with AUPRC say which choice tracks best.
"""

import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
from scipy import stats

from fac_engine.coverage.fac import CoverageConfig, FeatureSupport, compute_coverage, feature_support
from fac_engine.errors import FacError
from fac_engine.evaluation.calibration_results import (
    CalibrationConfig,
    CalibrationResult,
    CalibrationSet,
    Correlation,
    FacPoint,
    Scope,
    Variant,
)
from fac_engine.evaluation.probe import FeatureCache, Labelled, train_and_score
from fac_engine.evaluation.results import MetricSummary, pearson
from fac_engine.log import get_logger
from fac_engine.models.loader import LoadedModel
from fac_engine.workspace.datasets import EncodedDataset, PooledArrays, Workspace, check_comparable, check_name

log = get_logger(__name__)

VARIANTS: tuple[Variant, ...] = ("fac", "fac_freq", "fac_magnitude")
"""The FAC variants correlated with AUPRC."""


def subset_pooled(pooled: PooledArrays, rows: np.ndarray) -> PooledArrays:
    """The pooled codes of the samples `rows` (renumbered 0.. in the given order)."""
    if pooled.sample is None:
        raise ValueError("subset_pooled needs the sample column (pooled_arrays(with_samples=True)).")
    position = np.full(pooled.n_samples, -1, np.int64)
    position[np.asarray(rows, np.int64)] = np.arange(len(rows))
    keep = position[pooled.sample] >= 0
    return PooledArrays(position[pooled.sample[keep]].astype(np.int32), pooled.feature[keep], pooled.value[keep],
                        len(rows), pooled.d_sae)


def concat_pooled(a: PooledArrays, b: PooledArrays) -> PooledArrays:
    """Two datasets' pooled codes as one (b's samples after a's)."""
    assert a.sample is not None and b.sample is not None
    return PooledArrays(np.concatenate([a.sample, b.sample + a.n_samples]), np.concatenate([a.feature, b.feature]),
                        np.concatenate([a.value, b.value]), a.n_samples + b.n_samples, a.d_sae)


def _labels_of(data: EncodedDataset) -> list[object]:
    return list(data.samples(["label"]).column("label").to_pylist())


def split_holdout(labels: Sequence[object], positive: str, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(held-out rows: a seeded `share` of the positive rows, sorted; reference rows: all the others, sorted)."""
    positives = np.flatnonzero(np.array([str(v) == positive for v in labels], bool))
    if positives.size < 2:
        raise FacError(f"The anchor has {positives.size} rows labelled {positive!r}; calibration holds some out and "
                       "needs at least two.")
    n_out = min(positives.size - 1, max(1, round(share * positives.size)))
    held = np.sort(np.random.default_rng(seed).choice(positives, size=n_out, replace=False))
    return held, np.setdiff1d(np.arange(len(labels)), held)


def greedy_cover(hits: Sequence[frozenset[int]], k: int, order: np.ndarray) -> list[int]:
    """k indices into `hits` picked to cover as many features as possible: each pick adds the most not yet
    covered ones (ties: earlier in `order`); once nothing new is left, the most features overall."""
    chosen: list[int] = []
    covered: set[int] = set()
    left = [int(i) for i in order]
    rank = {i: r for r, i in enumerate(left)}  # a dict, not left.index: a whole anchor can be the candidates
    while left and len(chosen) < k:
        best = max(left, key=lambda i: (len(hits[i] - covered), len(hits[i]), -rank[i]))
        chosen.append(best)
        covered |= hits[best]
        left.remove(best)
    return chosen


def row_hits(pooled: PooledArrays, rows: np.ndarray, features: frozenset[int], threshold: float
             ) -> list[frozenset[int]]:
    """For each sample in `rows`, the `features` it activates (g > threshold), in one pass over the codes."""
    if pooled.sample is None:
        raise ValueError("row_hits needs the sample column (pooled_arrays(with_samples=True)).")
    position = np.full(pooled.n_samples, -1, np.int64)
    position[np.asarray(rows, np.int64)] = np.arange(len(rows))
    keep = (pooled.value > threshold) & np.isin(pooled.feature, np.fromiter(features, np.int64, len(features)))
    at, feature = position[pooled.sample[keep]], pooled.feature[keep]
    found: list[set[int]] = [set() for _ in range(len(rows))]
    for i, f in zip(at[at >= 0].tolist(), feature[at >= 0].tolist(), strict=True):
        found[i].add(f)
    return [frozenset(f) for f in found]


def _arms(hits: list[frozenset[int]], categories: list[str] | None, seed_categories: set[str], sizes: Sequence[int],
          rng: np.random.Generator) -> list[tuple[str, str, int, list[int]]]:
    """(name, kind, k, indices into the held-out rows) of every training-set arm."""
    order = rng.permutation(len(hits))
    none = [int(i) for i in order if not hits[i]]
    arms: list[tuple[str, str, int, list[int]]] = []
    for k in sizes:
        arms.append((f"seed + {k} covering missing", "covers missing", k, greedy_cover(hits, k, order)))
        arms.append((f"seed + {k} covering none", "covers none", k, none[:k]))
        if categories is not None:
            lacking = [int(i) for i in order if categories[i] not in seed_categories]
            present = [int(i) for i in order if categories[i] in seed_categories]
            arms.append((f"seed + {k} from missing categories", "missing categories", k, lacking[:k]))
            arms.append((f"seed + {k} from present categories", "present categories", k, present[:k]))
    short = [(name, len(rows)) for name, _, k, rows in arms if len(rows) < k]
    for name, n in short:
        log.warning("%s: only %d held-out rows qualify", name, n)
    return [a for a in arms if a[3]]


def _fac_points(pooled: PooledArrays, refs: dict[float, FeatureSupport], cfg: CalibrationConfig
                ) -> tuple[FacPoint, ...]:
    points = []
    scopes: tuple[tuple[Scope, frozenset[int] | None], ...] = (("relevant", cfg.relevant), ("all", None))
    for delta in cfg.thresholds:
        support = feature_support(pooled, delta)
        for scope, relevant in scopes:
            if scope == "relevant" and relevant is None:
                continue
            result = compute_coverage(support, refs[delta], CoverageConfig(threshold=delta, relevant=relevant))
            points.append(FacPoint(delta, scope, result.fac, result.fac_freq, result.fac_magnitude, result.covered,
                                   result.anchor_features))
    return tuple(points)


def correlations(sets: Sequence[CalibrationSet]) -> tuple[Correlation, ...]:
    auprc = [s.auprc.mean for s in sets]
    out = []
    for p, point in enumerate(sets[0].fac):
        for variant in VARIANTS:
            values = [float(getattr(s.fac[p], variant)) for s in sets]
            r = pearson(values, auprc)
            rho = None if r is None else float(stats.spearmanr(values, auprc).statistic)
            out.append(Correlation(point.threshold, point.scope, variant, r,
                                   rho if rho is not None and math.isfinite(rho) else None))
    return tuple(out)


def calibrate(workspace: Workspace, anchor: str, seed: str, test: str, cfg: CalibrationConfig, *, name: str,
              load_model: Callable[[], LoadedModel] | None = None, token_budget: int | None = None
              ) -> CalibrationResult:
    """Run the calibration of FAC against held-out real anchor rows; the test set is never touched."""
    started = time.perf_counter()
    check_name(name)
    opened = {n: workspace.open(n) for n in dict.fromkeys([anchor, seed, test])}
    for data in opened.values():
        check_comparable(opened[anchor].manifest, data.manifest)
    anchor_data, seed_data = opened[anchor], opened[seed]
    labels = _labels_of(anchor_data)
    held, reference = split_holdout(labels, cfg.positive, cfg.holdout, cfg.seed)
    anchor_pooled = anchor_data.pooled_arrays(with_samples=True)
    seed_pooled = seed_data.pooled_arrays(with_samples=True)
    refs = {d: feature_support(subset_pooled(anchor_pooled, reference), d) for d in cfg.thresholds}
    delta0 = cfg.thresholds[0]
    missing = frozenset(compute_coverage(feature_support(seed_pooled, delta0), refs[delta0],
                                         CoverageConfig(threshold=delta0, relevant=cfg.relevant)).missing)
    hits = row_hits(anchor_pooled, held, missing, delta0)
    categories = seed_categories = None
    if cfg.category is not None:
        categories, seed_categories = _categories(anchor_data, seed_data, held, cfg)
    arms = _arms(hits, categories, seed_categories or set(), cfg.sizes, np.random.default_rng(cfg.seed))
    cache = FeatureCache(cfg.eval_config(), load_model, token_budget, None)
    test_rows = cache.rows(opened[test])
    seed_rows = cache.rows(seed_data)
    anchor_labels = cache.labels(anchor_data)
    anchor_rows = cache.rows(anchor_data)
    sets = []
    for arm_name, kind, k, picks in [("seed", "seed", 0, []), *arms]:
        rows = held[picks] if picks else np.zeros(0, np.int64)
        pooled = concat_pooled(seed_pooled, subset_pooled(anchor_pooled, rows))
        at = np.searchsorted(anchor_labels.rows, rows)
        train = Labelled(np.concatenate([seed_rows.X_ND, anchor_rows.X_ND[at]]),
                         np.concatenate([seed_rows.is_positive, anchor_rows.is_positive[at]]), seed_rows.dropped)
        runs = [train_and_score(train, test_rows, cfg.eval_config(), s).auprc for s in cfg.seeds]
        covered = len(frozenset().union(*(hits[i] for i in picks))) if picks else 0
        sets.append(CalibrationSet(arm_name, kind, k, tuple(int(r) for r in rows), covered,
                                   _fac_points(pooled, refs, cfg), MetricSummary(tuple(runs))))
        log.info("%s: FAC %.4f, AUPRC %.4f", arm_name, sets[-1].fac[0].fac, sets[-1].auprc.mean)
    m = anchor_data.manifest
    return CalibrationResult(name=name, config=cfg, anchor=anchor, seed=seed, test=test, model=m.model, sae=m.sae,
                             n_holdout=int(held.size), n_reference=int(reference.size), n_missing=len(missing),
                             sets=tuple(sets), correlations=correlations(sets),
                             seconds=round(time.perf_counter() - started, 3),
                             created=datetime.now(UTC).isoformat(timespec="seconds"))


def _categories(anchor: EncodedDataset, seed: EncodedDataset, held: np.ndarray, cfg: CalibrationConfig
                ) -> tuple[list[str], set[str]]:
    """Categories of the held-out rows, and those of the seed's positive rows."""
    column = str(cfg.category)
    for data in (anchor, seed):
        if column not in data.sample_columns():
            raise FacError(f"Dataset {data.name!r} has no column {column!r}; calibrate without --category or "
                           "encode the data with it.")
    anchor_cat = [str(v) for v in anchor.samples([column]).column(column).to_pylist()]
    seed_cat = seed.samples([column, "label"])
    seed_set = {str(c) for c, lab in zip(seed_cat.column(column).to_pylist(), seed_cat.column("label").to_pylist(),
                                         strict=True) if str(lab) == cfg.positive}
    return [anchor_cat[int(r)] for r in held], seed_set
