"""Downstream evaluation of named training sets with the paper's head-only protocol (docs/METHOD.md section 5).

Each training set (encoded datasets concatenated) trains one probe per seed (probe.py), scored on one test
set by AUPRC, ROC-AUC and F1, and per test category when the test set has a category column
(categories.py). Next to the scores each set gets its FAC against an anchor set, its text diversity and
its data efficiency score (DES = AUPRC / log10 n), so FAC can be checked against downstream quality
(Pearson r across sets). An optional headroom arm (headroom.py) adds real held-out anchor rows to one set
as an upper reference.
"""

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np

from fac_engine.coverage.diversity import EmbedFn, text_diversity
from fac_engine.coverage.fac import FeatureSupport, compute_coverage, feature_support
from fac_engine.errors import FacError
from fac_engine.evaluation.calibrate import subset_pooled
from fac_engine.evaluation.categories import CategoryIndex, read_categories
from fac_engine.evaluation.headroom import HeadroomSpec, pick_headroom
from fac_engine.evaluation.probe import (
    FeatureCache,
    HiddenProgress,
    Labelled,
    TrainingSet,
    check_both_classes,
    train_and_score,
    union_pooled,
)
from fac_engine.evaluation.results import EvalConfig, EvalResult, Headroom, SetResult
from fac_engine.log import get_logger
from fac_engine.models.loader import LoadedModel
from fac_engine.workspace.datasets import EncodedDataset, PooledArrays, Workspace, check_comparable, check_name

log = get_logger(__name__)


def _texts(datasets: Sequence[EncodedDataset]) -> list[str]:
    return [str(t) for d in datasets for t in d.samples(["text"]).column("text").to_pylist()]


def _check_sets(sets: Sequence[TrainingSet], headroom: HeadroomSpec | None) -> None:
    if not sets:
        raise FacError("Give at least one training set to evaluate.")
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise FacError("Training set names must differ from each other.")
    if headroom is not None and headroom.name(sets) in names:
        raise FacError(f"A training set is already called {headroom.name(sets)!r}, the headroom arm's name.")


class _Scorer:
    """Scores training sets against one test set and one anchor (FAC, diversity, probes over the seeds)."""

    def __init__(self, cfg: EvalConfig, features: FeatureCache, test: Labelled, categories: CategoryIndex | None,
                 anchor_support: FeatureSupport, embed: EmbedFn | None) -> None:
        self.cfg, self.features, self.test, self.categories = cfg, features, test, categories
        self.anchor_support, self.embed = anchor_support, embed

    def score(self, name: str, datasets: tuple[str, ...], train: Labelled, pooled: PooledArrays, texts: list[str],
              headroom: Headroom | None = None) -> SetResult:
        cov_cfg = self.cfg.coverage()
        coverage = compute_coverage(feature_support(pooled, cov_cfg.threshold), self.anchor_support, cov_cfg)
        runs = tuple(train_and_score(train, self.test, self.cfg, seed, self.categories) for seed in self.cfg.seeds)
        result = SetResult(name=name, datasets=datasets, n_train=int(train.is_positive.size),
                           n_positive=int(train.is_positive.sum()), dropped_unlabelled=train.dropped,
                           coverage=coverage, diversity=text_diversity(texts, self.embed), runs=runs,
                           headroom=headroom)
        log.info("%s: FAC %.4f, AUPRC %.4f, DES %.4f", name, coverage.fac, result.auprc.mean, result.des.mean)
        return result

    def training_rows(self, members: Sequence[EncodedDataset]) -> Labelled:
        parts = [self.features.rows(d) for d in members]
        return Labelled(np.concatenate([p.X_ND for p in parts]), np.concatenate([p.is_positive for p in parts]),
                        sum(p.dropped for p in parts))


def evaluate_sets(workspace: Workspace, anchor: str, test: str, sets: Sequence[TrainingSet], cfg: EvalConfig, *,
                  name: str, headroom: HeadroomSpec | None = None, load_model: Callable[[], LoadedModel] | None = None,
                  token_budget: int | None = None, progress: HiddenProgress | None = None,
                  embed: EmbedFn | None = None) -> EvalResult:
    """Score every training set on `test` with one probe per seed, with its FAC against `anchor`; with
    `headroom`, one more set: the base set plus real held-out anchor rows (headroom.py).

    All datasets must be encoded with the anchor's model, SAE and layer; labels are checked
    before any features are computed. `load_model` is called at most once, only when hidden
    states are missing from the cache. `embed` adds the embedding distance to text diversity.
    """
    started = time.perf_counter()
    check_name(name)
    _check_sets(sets, headroom)
    opened = {n: workspace.open(n) for n in dict.fromkeys([anchor, test, *(d for s in sets for d in s.datasets)])}
    anchor_data = opened[anchor]
    for data in opened.values():
        check_comparable(anchor_data.manifest, data.manifest)
    features = FeatureCache(cfg, load_model, token_budget, progress)
    test_labels = features.labels(opened[test])
    check_both_classes(f"The test set {test!r}", test_labels.is_positive, cfg.positive)
    for s in sets:
        check_both_classes(f"The training set {s.name!r}", np.concatenate(
            [features.labels(opened[d]).is_positive for d in s.datasets]), cfg.positive)
    if headroom is not None:
        features.labels(anchor_data)  # the anchor's labels are checked before any features are computed
    test_rows = features.rows(opened[test])
    categories = read_categories(opened[test], test_labels.rows, test_labels.is_positive, cfg.category)
    anchor_pooled = anchor_data.pooled_arrays(with_samples=headroom is not None)
    scorer = _Scorer(cfg, features, test_rows, categories, feature_support(anchor_pooled, cfg.fac_threshold), embed)
    results = []
    for s in sets:
        members = [opened[d] for d in s.datasets]
        results.append(scorer.score(s.name, s.datasets, scorer.training_rows(members),
                                    union_pooled([d.pooled_arrays() for d in members]), _texts(members)))
    if headroom is not None:
        results.append(_headroom_arm(scorer, headroom, sets, results, opened, anchor_data, anchor_pooled, test))
    m = anchor_data.manifest
    return EvalResult(name=name, config=cfg, anchor=anchor, test=test, n_test=int(test_rows.is_positive.size),
                      n_test_positive=int(test_rows.is_positive.sum()), model=m.model, sae=m.sae, layer=m.layer,
                      sets=tuple(results), seconds=round(time.perf_counter() - started, 3),
                      created=datetime.now(UTC).isoformat(timespec="seconds"),
                      categories=() if categories is None else categories.categories)


def _headroom_arm(scorer: _Scorer, spec: HeadroomSpec, sets: Sequence[TrainingSet], results: Sequence[SetResult],
                  opened: dict[str, EncodedDataset], anchor: EncodedDataset, anchor_pooled: PooledArrays,
                  test: str) -> SetResult:
    """The base set plus the real anchor rows `pick_headroom` chooses for what the base set misses."""
    base = spec.base_set(sets)
    base_result = results[list(sets).index(base)]
    labels = scorer.features.labels(anchor)
    anchor_texts = _texts([anchor])
    record = pick_headroom(anchor_pooled, labels.rows, anchor_texts, base_result.coverage.missing, spec.n,
                           scorer.cfg.fac_threshold, base=base.name,
                           train_texts=_texts([opened[d] for d in dict.fromkeys(d for s in sets for d in s.datasets)]),
                           test_texts=_texts([opened[test]]))
    rows = np.asarray(record.rows, np.int64)
    members = [opened[d] for d in base.datasets]
    base_rows, anchor_rows = scorer.training_rows(members), scorer.features.rows(anchor)
    at = np.searchsorted(labels.rows, rows)
    train = Labelled(np.concatenate([base_rows.X_ND, anchor_rows.X_ND[at]]),
                     np.concatenate([base_rows.is_positive, anchor_rows.is_positive[at]]), base_rows.dropped)
    pooled = union_pooled([*(d.pooled_arrays() for d in members), subset_pooled(anchor_pooled, rows)])
    return scorer.score(spec.name(sets), base.datasets, train, pooled,
                        _texts(members) + [anchor_texts[r] for r in record.rows], record)
