"""A downstream evaluation's settings and results (evaluate.py runs it), as JSON-friendly dataclasses.

Results live in `<workspace>/.evaluations/<name>.json` (written atomically), so the app and a
report can read an evaluation later without rerunning it. Aggregates (means, stds, Pearson r)
are properties over the stored per-seed scores, so the file never holds two copies of a number
that could disagree; `to_json_dict` writes them out as well for readers that are not Python.
Version 2 added per-category scores, the real headroom arm and DES; version 1 files still load.
"""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fac_engine.atomic import atomic_file
from fac_engine.coverage.diversity import DiversityResult
from fac_engine.coverage.fac import CoverageConfig, CoverageResult
from fac_engine.errors import FacError, check_threshold
from fac_engine.evaluation.categories import CategoryCount, CategoryScore
from fac_engine.workspace.datasets import check_name

EVALUATIONS = ".evaluations"
"""Folder of the workspace that holds saved evaluations (a dot name: never taken for a dataset)."""
FORMAT = "fac-studio-evaluation"
FORMAT_VERSION = 2
Metric = Literal["auprc", "roc_auc", "f1"]
CategoryMetric = Literal["recall", "auprc"]
Features = Literal["hidden", "sae"]


@dataclass(frozen=True)
class EvalConfig:
    """How to evaluate training sets with the head-only protocol (docs/METHOD.md section 5)."""

    features: Features = "hidden"
    """"hidden": mean content-token residual states at the SAE's layer (the paper's frozen LM + linear
    head); "sae": the pooled max SAE codes already in the workspace (no model run)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """One probe per seed; the seed picks the stratified subsample and is the probe's random state."""
    positive: str = "toxic"
    """The positive label; every other label is negative."""
    threshold: float = 0.5
    """Decision threshold on the positive-class probability, for F1."""
    C: float = 1.0
    """Inverse L2 strength of the logistic regression."""
    max_iter: int = 1000
    """Fixed iteration cap of the solver (lbfgs), so runs are comparable."""
    subsample: float = 0.9
    """Stratified share of the training rows each seed trains on (1.0: all rows, seeds then agree)."""
    fac_threshold: float = 0.0
    """delta of FAC (coverage.CoverageConfig.threshold)."""
    relevant: frozenset[int] | None = None
    """Task-relevant features FAC is restricted to; None: all features."""
    category: str | None = "category"
    """Column of the test set that names each row's category, for per-category recall and AUPRC of the
    positive rows; a test set without it gets none."""

    def __post_init__(self) -> None:
        if self.features not in ("hidden", "sae"):
            raise ValueError(f"Unknown features {self.features!r}; use 'hidden' or 'sae'.")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("Give at least one seed, each once.")
        if not self.positive:
            raise ValueError("The positive label is empty.")
        check_threshold(self.fac_threshold, "The FAC threshold")
        if not 0 < self.threshold < 1:
            raise ValueError(f"The decision threshold must lie in (0, 1), not {self.threshold}.")
        if not self.C > 0 or self.max_iter < 1:
            raise ValueError("C must be > 0 and max_iter >= 1.")
        if not 0 < self.subsample <= 1:
            raise ValueError(f"The subsample share must lie in (0, 1], not {self.subsample}.")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "relevant", self.coverage().relevant)

    def coverage(self) -> CoverageConfig:
        """The FAC settings (checks delta and the relevant ids)."""
        return CoverageConfig(threshold=self.fac_threshold, relevant=self.relevant)

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types (the relevant ids as a sorted list)."""
        return {**asdict(self), "seeds": list(self.seeds),
                "relevant": None if self.relevant is None else sorted(self.relevant)}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "EvalConfig":
        """Inverse of `to_json_dict`."""
        relevant = data.get("relevant")
        return cls(**{**data, "seeds": tuple(data["seeds"]),
                      "relevant": None if relevant is None else frozenset(relevant)})


@dataclass(frozen=True)
class MetricSummary:
    """One metric over the seeds."""

    values: tuple[float, ...]
    """The metric of each seed, in seed order."""

    @property
    def mean(self) -> float:
        """Mean over the seeds."""
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        """Sample standard deviation over the seeds (ddof 1); 0.0 with one seed."""
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def to_json_dict(self) -> dict[str, Any]:
        """mean, std and the per-seed values."""
        return {"mean": self.mean, "std": self.std, "values": list(self.values)}


@dataclass(frozen=True)
class SeedScores:
    """Test metrics of the probe trained with one seed."""

    seed: int
    """The seed (subsample and probe random state)."""
    n_train: int
    """Training rows after the stratified subsample."""
    auprc: float
    """Average precision of the positive class (sklearn average_precision_score)."""
    roc_auc: float
    """Area under the ROC curve."""
    f1: float
    """F1 of the positive class at the configured decision threshold."""
    categories: tuple[CategoryScore, ...] = ()
    """Scores on each test category's positive rows (categories.py); empty without a category column."""

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "SeedScores":
        """Inverse of `asdict`."""
        return cls(**{**data, "categories": tuple(CategoryScore(**c) for c in data.get("categories", ()))})


@dataclass(frozen=True)
class Headroom:
    """How the real headroom arm was made: real held-out anchor rows added to a base training set."""

    base: str
    """Name of the training set the rows were added to."""
    rows: tuple[int, ...]
    """Row indices of the anchor dataset, in the order they were picked."""
    requested: int
    """Rows asked for (more than `rows` when fewer anchor rows were held out)."""
    n_missing: int
    """Features (relevant ones, when given) of the anchor that the base set does not cover."""
    covered: int
    """Of those, the features the added rows activate."""


@dataclass(frozen=True)
class SetResult:
    """One training set: its coverage of the anchor, its text diversity and its probe's test scores."""

    name: str
    """The set's display name (e.g. "seed + FAC synthesis")."""
    datasets: tuple[str, ...]
    """The encoded datasets concatenated into it, in order."""
    n_train: int
    """Labelled rows (before the per-seed subsample)."""
    n_positive: int
    """Rows with the positive label."""
    dropped_unlabelled: int
    """Rows left out because their label is missing."""
    coverage: CoverageResult
    """FAC of the union of the datasets' pooled codes against the anchor."""
    diversity: DiversityResult
    """Text diversity of all the set's texts (no embeddings unless asked)."""
    runs: tuple[SeedScores, ...]
    """Per-seed test scores, in seed order."""
    headroom: Headroom | None = None
    """Set only for the headroom arm: real anchor rows, an upper reference, never synthetic data."""

    def metric(self, name: Metric) -> MetricSummary:
        """One metric over the seeds."""
        return MetricSummary(tuple(float(getattr(r, name)) for r in self.runs))

    @property
    def des(self) -> MetricSummary:
        """Data efficiency score over the seeds: AUPRC / log10 n with n the set's labelled rows (n_train >= 2,
        as the set holds both classes), so a small set that scores as well as a large one scores higher."""
        return MetricSummary(tuple(r.auprc / math.log10(self.n_train) for r in self.runs))

    def category_metric(self, category: str, name: CategoryMetric) -> MetricSummary:
        """Recall or AUPRC of one test category's positive rows over the seeds."""
        return MetricSummary(tuple(float(getattr(c, name)) for r in self.runs for c in r.categories
                                   if c.category == category))

    @property
    def auprc(self) -> MetricSummary:
        """AUPRC over the seeds (the paper's toxicity metric)."""
        return self.metric("auprc")

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types; means and stds included."""
        categories = [c.category for c in self.runs[0].categories] if self.runs else []
        headroom = None if self.headroom is None else {**asdict(self.headroom), "rows": list(self.headroom.rows)}
        return {"name": self.name, "datasets": list(self.datasets), "n_train": self.n_train,
                "n_positive": self.n_positive, "dropped_unlabelled": self.dropped_unlabelled,
                "coverage": self.coverage.to_json_dict(), "diversity": self.diversity.to_json_dict(),
                "runs": [{**asdict(r), "categories": [asdict(c) for c in r.categories]} for r in self.runs],
                **{m: self.metric(m).to_json_dict() for m in ("auprc", "roc_auc", "f1")},
                "des": self.des.to_json_dict(), "headroom": headroom,
                "categories": {c: {m: self.category_metric(c, m).to_json_dict() for m in ("recall", "auprc")}
                               for c in categories}}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "SetResult":
        """Inverse of `to_json_dict` (the derived means are recomputed, not read)."""
        return cls(name=data["name"], datasets=tuple(data["datasets"]), n_train=int(data["n_train"]),
                   n_positive=int(data["n_positive"]), dropped_unlabelled=int(data["dropped_unlabelled"]),
                   coverage=CoverageResult(**data["coverage"]), diversity=DiversityResult(**data["diversity"]),
                   runs=tuple(SeedScores.from_json_dict(r) for r in data["runs"]),
                   headroom=None if data.get("headroom") is None else Headroom(**{
                       **data["headroom"], "rows": tuple(data["headroom"]["rows"])}))


def pearson(x: list[float], y: list[float]) -> float | None:
    """Pearson r of two equally long lists; None with fewer than 3 points or a constant list."""
    if len(x) != len(y):
        raise ValueError(f"Pearson r needs equally long lists ({len(x)} vs {len(y)}).")
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    r = float(np.corrcoef(x, y)[0, 1])
    return r if math.isfinite(r) else None


@dataclass(frozen=True)
class EvalResult:
    """A whole evaluation: every training set scored on one test set, with FAC against one anchor."""

    name: str
    """Name it is saved under in `<workspace>/.evaluations/`."""
    config: EvalConfig
    """The settings used."""
    anchor: str
    """The anchor dataset FAC is measured against."""
    test: str
    """The test dataset."""
    n_test: int
    """Labelled test rows."""
    n_test_positive: int
    """Test rows with the positive label."""
    model: str
    """Model identity the datasets were encoded with."""
    sae: str
    """SAE identity."""
    layer: int
    """Layer of the SAE (and of the hidden states)."""
    sets: tuple[SetResult, ...]
    """One result per training set, in the order given."""
    seconds: float
    """Wall time of the evaluation."""
    created: str
    """ISO time the evaluation finished."""
    categories: tuple[CategoryCount, ...] = ()
    """The test set's categories with positive rows (config.category); empty without that column."""

    def correlation(self, x: Literal["fac", "distinct_1", "distinct_2", "entropy_2"]) -> float | None:
        """Pearson r of a per-set quantity with the mean AUPRC across sets (None with < 3 sets)."""
        values = [s.coverage.fac if x == "fac" else float(getattr(s.diversity, x)) for s in self.sets]
        return pearson(values, [s.auprc.mean for s in self.sets])

    @property
    def pearson_fac_auprc(self) -> float | None:
        """Pearson r of FAC vs mean AUPRC across the sets (docs/METHOD.md section 5: 0.95 in the paper)."""
        return self.correlation("fac")

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types, with the format tag and the correlations."""
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name,
                "config": self.config.to_json_dict(), "anchor": self.anchor, "test": self.test, "n_test": self.n_test,
                "n_test_positive": self.n_test_positive, "model": self.model, "sae": self.sae, "layer": self.layer,
                "sets": [s.to_json_dict() for s in self.sets], "seconds": self.seconds, "created": self.created,
                "categories": [asdict(c) for c in self.categories],
                "pearson": {x: self.correlation(x) for x in ("fac", "distinct_1", "distinct_2", "entropy_2")}}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "EvalResult":
        """Inverse of `to_json_dict`."""
        if data.get("format") != FORMAT:
            raise ValueError("not a FAC Studio evaluation")
        return cls(name=data["name"], config=EvalConfig.from_json_dict(data["config"]), anchor=data["anchor"],
                   test=data["test"],
                   n_test=int(data["n_test"]), n_test_positive=int(data["n_test_positive"]), model=data["model"],
                   sae=data["sae"], layer=int(data["layer"]),
                   sets=tuple(SetResult.from_json_dict(s) for s in data["sets"]), seconds=float(data["seconds"]),
                   created=data["created"],
                   categories=tuple(CategoryCount(**c) for c in data.get("categories", ())))


def evaluation_path(workspace_root: Path, name: str) -> Path:
    """`<workspace>/.evaluations/<name>.json`."""
    return Path(workspace_root) / EVALUATIONS / f"{check_name(name)}.json"


def save_evaluation(workspace_root: Path, result: EvalResult) -> Path:
    """Write the result atomically under its name (replacing an earlier one); returns the path."""
    path = evaluation_path(workspace_root, result.name)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(result.to_json_dict(), indent=1) + "\n", encoding="utf-8")
    return path


def load_evaluation(workspace_root: Path, name: str) -> EvalResult:
    """A saved evaluation; FacError when it is missing or unreadable."""
    path = evaluation_path(workspace_root, name)
    if not path.is_file():
        known = ", ".join(evaluation_names(workspace_root)) or "none"
        raise FacError(f"No saved evaluation {name!r} in {path.parent} (saved: {known}). Run `fac evaluate` first.")
    try:
        return EvalResult.from_json_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise FacError(f"{path} is not a readable evaluation ({exc}); run `fac evaluate` again.") from exc


def evaluation_names(workspace_root: Path) -> list[str]:
    """Names of the saved evaluations, sorted."""
    folder = Path(workspace_root) / EVALUATIONS
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
