"""The probe of the paper's head-only protocol (docs/METHOD.md section 5) and its inputs.

A frozen LM and a linear probe: standardised features -> logistic regression (balanced class
weights, fixed iteration cap), trained on a training set and scored on one test set by AUPRC,
ROC-AUC and F1 (and per test category, categories.py). Features are either the LM's mean
content-token hidden states at the SAE's layer (hidden_states.py, cached) or the pooled max SAE
codes already in the workspace. evaluate.py runs it over named training sets.
"""

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from fac_engine.coverage.fac import PooledArrays
from fac_engine.errors import FacError
from fac_engine.evaluation.categories import CategoryIndex, category_scores
from fac_engine.evaluation.hidden_states import Progress, cached_hidden_states
from fac_engine.evaluation.results import EvalConfig, SeedScores
from fac_engine.log import get_logger
from fac_engine.models.loader import LoadedModel
from fac_engine.workspace.datasets import EncodedDataset

log = get_logger(__name__)

HiddenProgress = Callable[[str, int, int], None]
"""Called with (dataset name, samples done, samples in it) while hidden states are computed."""


@dataclass(frozen=True)
class TrainingSet:
    """A named list of encoded datasets that are concatenated into one training set."""

    name: str
    """Display name, e.g. "seed + FAC synthesis"."""
    datasets: tuple[str, ...]
    """Encoded dataset names, in order."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("A training set needs a name.")
        if not self.datasets:
            raise ValueError(f"Training set {self.name!r} lists no datasets.")


class Labelled(NamedTuple):
    """Features and binary labels of the labelled rows of one or more datasets."""

    X_ND: np.ndarray
    """float32[N, D] features of the rows that have a label."""
    is_positive: np.ndarray
    """bool[N]: the row has the positive label."""
    dropped: int
    """Rows left out because their label was missing."""


class Metrics(NamedTuple):
    """Threshold-free and thresholded scores of one probe on one test set."""

    auprc: float
    """Average precision of the positive class."""
    roc_auc: float
    """Area under the ROC curve."""
    f1: float
    """F1 of the positive class with score >= threshold predicted positive."""


def sae_features(data: EncodedDataset) -> np.ndarray:
    """float32[N, d_sae]: the pooled max SAE codes as a dense matrix (zeros where a feature is silent)."""
    pooled = data.pooled_arrays(with_samples=True)
    X_ND = np.zeros((pooled.n_samples, pooled.d_sae), dtype=np.float32)
    X_ND[pooled.sample, pooled.feature] = pooled.value
    return X_ND


def binary_labels(labels: Sequence[object], positive: str) -> tuple[np.ndarray, np.ndarray]:
    """(row indices that have a label, bool positive-or-not for those rows); None, NaN and "" are missing."""
    keep, y = [], []
    for i, label in enumerate(labels):
        if label is None or (isinstance(label, float) and np.isnan(label)) or str(label).strip() == "":
            continue
        keep.append(i)
        y.append(str(label) == positive)
    return np.asarray(keep, dtype=np.int64), np.asarray(y, dtype=bool)


class Labels(NamedTuple):
    """The labelled rows of one dataset and their binary labels."""

    rows: np.ndarray
    """int64[N] indices of the rows that have a label."""
    is_positive: np.ndarray
    """bool[N]: the row has the positive label."""
    dropped: int
    """Rows left out because their label was missing."""


def dataset_labels(data: EncodedDataset, positive: str) -> Labels:
    """Binary labels of the dataset's labelled rows; unlabelled rows are dropped with a warning."""
    keep, is_positive = binary_labels(data.samples(["label"]).column("label").to_pylist(), positive)
    dropped = data.manifest.n_samples - keep.size
    if keep.size == 0:
        raise FacError(f"Dataset {data.name!r} has no labels; encode it with --label-field to evaluate with it.")
    if dropped:
        log.warning("%s: %d of %d rows have no label and are left out", data.name, dropped, data.manifest.n_samples)
    return Labels(keep, is_positive, dropped)


def stratified_subsample(is_positive: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Sorted row indices of a seeded random `share` of each class (at least one row per class; all at share 1)."""
    labels = np.asarray(is_positive, dtype=bool)
    if share >= 1.0:
        return np.arange(labels.size)
    rng = np.random.default_rng(seed)
    picked = []
    for cls in (False, True):
        rows = np.flatnonzero(labels == cls)
        if rows.size:
            picked.append(rng.choice(rows, size=max(1, round(share * rows.size)), replace=False))
    return np.sort(np.concatenate(picked))


def binary_metrics(is_positive: np.ndarray, scores_N: np.ndarray, threshold: float) -> Metrics:
    """AUPRC, ROC-AUC and F1 (at `threshold`) of positive-class scores; y must hold both classes."""
    y = np.asarray(is_positive, dtype=bool)
    return Metrics(float(average_precision_score(y, scores_N)), float(roc_auc_score(y, scores_N)),
                   float(f1_score(y, np.asarray(scores_N) >= threshold, zero_division=0.0)))


def make_probe(cfg: EvalConfig, seed: int) -> Pipeline:
    """The untrained probe of one seed: standardisation, then logistic regression with random_state = seed."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=cfg.C, class_weight="balanced",
                                                              max_iter=cfg.max_iter, random_state=seed))


def train_and_score(train: Labelled, test: Labelled, cfg: EvalConfig, seed: int,
                    categories: CategoryIndex | None = None) -> SeedScores:
    """Fit the probe on a seeded stratified subsample of `train` and score it on `test` (and on each of the
    test's `categories`, when given).

    What a seed varies: the stratified `cfg.subsample` share of the rows the probe trains on, and the
    probe's random_state. The L2-regularised logistic regression is strictly convex and lbfgs starts
    from zeros, so the random_state changes nothing by itself (it is set for any solver that reads
    it) and with subsample 1.0 every seed fits the same probe. The subsample is what makes the std
    over seeds measure how much the score depends on which samples the set holds, which is what a
    synthetic set is judged by.
    """
    rows = stratified_subsample(train.is_positive, cfg.subsample, seed)
    probe = make_probe(cfg, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        probe.fit(train.X_ND[rows], train.is_positive[rows])
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        log.warning("the probe (seed %d) did not converge in %d iterations", seed, cfg.max_iter)
    scores_N = probe.predict_proba(test.X_ND)[:, 1]
    metrics = binary_metrics(test.is_positive, scores_N, cfg.threshold)
    per_category = () if categories is None else category_scores(categories, test.is_positive, scores_N,
                                                                  cfg.threshold)
    return SeedScores(seed=seed, n_train=int(rows.size), **metrics._asdict(), categories=per_category)


def check_both_classes(what: str, is_positive: np.ndarray, positive: str) -> None:
    n_pos = int(is_positive.sum())
    if n_pos == 0 or n_pos == is_positive.size:
        side = "no" if n_pos == 0 else "only"
        raise FacError(f"{what} has {side} rows labelled {positive!r}; a probe needs both classes "
                       "(check --positive and the label column).")


def union_pooled(arrays: Sequence[PooledArrays]) -> PooledArrays:
    """The pooled codes of several datasets as one dataset, without sample ids (what FAC needs)."""
    return PooledArrays(None, np.concatenate([a.feature for a in arrays]), np.concatenate([a.value for a in arrays]),
                        sum(a.n_samples for a in arrays), arrays[0].d_sae)


class FeatureCache:
    """Each dataset's labels and features, computed once however many sets use it."""

    def __init__(self, cfg: EvalConfig, load_model: Callable[[], LoadedModel] | None, token_budget: int | None,
                 progress: HiddenProgress | None) -> None:
        self.cfg, self.token_budget, self.progress = cfg, token_budget, progress
        self._model: LoadedModel | None = None
        self._load_model = load_model
        self._labels: dict[str, Labels] = {}
        self._rows: dict[str, Labelled] = {}

    def model(self) -> LoadedModel:
        if self._model is None:
            if self._load_model is None:
                raise FacError("Hidden-state features need the model, and none was given.")
            self._model = self._load_model()
        return self._model

    def _progress_of(self, name: str) -> Progress | None:
        report = self.progress
        return None if report is None else lambda done, total: report(name, done, total)

    def labels(self, data: EncodedDataset) -> Labels:
        if data.name not in self._labels:
            self._labels[data.name] = dataset_labels(data, self.cfg.positive)
        return self._labels[data.name]

    def rows(self, data: EncodedDataset) -> Labelled:
        if data.name not in self._rows:
            if self.cfg.features == "sae":
                X_ND = sae_features(data)
            else:
                X_ND = cached_hidden_states(data, self.model, token_budget=self.token_budget,
                                            progress=self._progress_of(data.name))
            labels = self.labels(data)
            self._rows[data.name] = Labelled(X_ND[labels.rows], labels.is_positive, labels.dropped)
        return self._rows[data.name]
