"""A FAC calibration's settings and results (calibrate.py runs it), as JSON-friendly dataclasses.

Saved as `<workspace>/.calibrations/<name>.json` (atomically) so the Evaluation page and the CLI can
show it later. Correlations are stored with the sets they were computed from.
"""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from fac_engine.atomic import atomic_file
from fac_engine.errors import FacError
from fac_engine.evaluation.results import EvalConfig, Features, MetricSummary
from fac_engine.workspace.datasets import check_name

CALIBRATIONS = ".calibrations"
"""Folder of the workspace that holds saved calibrations (a dot name: never taken for a dataset)."""
FORMAT = "fac-studio-calibration"
Scope = Literal["relevant", "all"]
Variant = Literal["fac", "fac_freq", "fac_magnitude"]
TRACKS = 0.7
"""Pearson r from which the calibration says FAC tracks AUPRC on this task."""


@dataclass(frozen=True)
class CalibrationConfig:
    """How to calibrate FAC against downstream AUPRC with held-out real anchor rows."""

    positive: str = "toxic"
    """The positive label: held-out rows are drawn from it, and the probe detects it."""
    sizes: tuple[int, ...] = (25, 50)
    """k: held-out rows added to the seed in each arm, at each size."""
    holdout: float = 0.3
    """Share of the anchor's positive rows held out (the rest stays the reference anchor of FAC)."""
    thresholds: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)
    """The deltas FAC is computed at; the first one picks the missing features the arms cover."""
    relevant: frozenset[int] | None = None
    """Task-relevant features (FAC is computed on them and on all features); None: all features only."""
    category: str | None = None
    """A category column of anchor and seed: adds arms of rows from categories the seed's positives lack / have."""
    features: Features = "hidden"
    """Probe features: "hidden" (mean content-token residual states) or "sae" (pooled SAE codes)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """One probe per seed (stratified 90 % subsample and probe random state)."""
    seed: int = 0
    """Seed of the hold-out split and of the order among equally good rows."""

    def __post_init__(self) -> None:
        if not self.sizes or any(k < 1 for k in self.sizes):
            raise ValueError("Give at least one size, each at least 1 row.")
        if not (math.isfinite(self.holdout) and 0 < self.holdout < 1):
            raise ValueError(f"The held-out share must lie in (0, 1), not {self.holdout}.")
        if not self.thresholds or any(not math.isfinite(d) or d < 0 for d in self.thresholds):
            raise ValueError("Thresholds (delta) must be finite numbers >= 0.")
        object.__setattr__(self, "sizes", tuple(int(k) for k in self.sizes))
        object.__setattr__(self, "thresholds", tuple(float(d) for d in self.thresholds))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if self.relevant is not None:
            object.__setattr__(self, "relevant", frozenset(int(i) for i in self.relevant))
        self.eval_config()  # checks the probe settings

    def eval_config(self) -> EvalConfig:
        """The probe settings of every arm."""
        return EvalConfig(features=self.features, seeds=self.seeds, positive=self.positive)

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {**asdict(self), "sizes": list(self.sizes), "thresholds": list(self.thresholds),
                "seeds": list(self.seeds), "relevant": None if self.relevant is None else sorted(self.relevant)}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "CalibrationConfig":
        """Inverse of `to_json_dict`."""
        relevant = data.get("relevant")
        return cls(**{**data, "sizes": tuple(data["sizes"]), "thresholds": tuple(data["thresholds"]),
                      "seeds": tuple(data["seeds"]), "relevant": None if relevant is None else frozenset(relevant)})


@dataclass(frozen=True)
class FacPoint:
    """FAC of one training set at one delta over one feature scope."""

    threshold: float
    """delta."""
    scope: Scope
    """"relevant": the task-relevant features; "all": every feature."""
    fac: float
    """Binary FAC against the reference anchor."""
    fac_freq: float
    """FAC weighted by anchor activation frequency."""
    fac_magnitude: float
    """FAC weighted by mean anchor activation."""
    covered: int
    """Anchor features covered."""
    anchor_features: int
    """Anchor features in scope."""


@dataclass(frozen=True)
class CalibrationSet:
    """One training set of the calibration: the seed plus k held-out anchor rows of one arm."""

    name: str
    """Display name, e.g. "seed + 50 covering missing"."""
    kind: str
    """"seed", "covers missing", "covers none", "missing categories" or "present categories"."""
    k: int
    """Rows asked for (the arm may hold fewer when not enough rows qualify)."""
    rows: tuple[int, ...]
    """The anchor rows added (indices into the anchor)."""
    missing_covered: int
    """Seed-missing features (at the first delta, in scope) that the added rows activate."""
    fac: tuple[FacPoint, ...]
    """FAC at every delta and scope, in CalibrationConfig order (relevant before all)."""
    auprc: MetricSummary
    """Test AUPRC over the probe seeds."""

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"name": self.name, "kind": self.kind, "k": self.k, "rows": list(self.rows),
                "missing_covered": self.missing_covered, "fac": [asdict(p) for p in self.fac],
                "auprc": self.auprc.to_json_dict()}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "CalibrationSet":
        """Inverse of `to_json_dict`."""
        return cls(data["name"], data["kind"], int(data["k"]), tuple(data["rows"]), int(data["missing_covered"]),
                   tuple(FacPoint(**p) for p in data["fac"]), MetricSummary(tuple(data["auprc"]["values"])))


@dataclass(frozen=True)
class Correlation:
    """How one FAC choice tracks AUPRC across the calibration's sets."""

    threshold: float
    """delta."""
    scope: Scope
    """Feature scope."""
    variant: Variant
    """FAC variant."""
    pearson: float | None
    """Pearson r with mean AUPRC (None when FAC or AUPRC is constant across sets)."""
    spearman: float | None
    """Spearman rank correlation with mean AUPRC."""


@dataclass(frozen=True)
class CalibrationResult:
    """A whole calibration run."""

    name: str
    """Name it is saved under."""
    config: CalibrationConfig
    """Settings used."""
    anchor: str
    """The labelled anchor (split into reference and held-out rows)."""
    seed: str
    """The seed dataset."""
    test: str
    """The untouched test set."""
    model: str
    """Model identity."""
    sae: str
    """SAE identity."""
    n_holdout: int
    """Held-out positive anchor rows."""
    n_reference: int
    """Anchor rows left as FAC's reference."""
    n_missing: int
    """Seed-missing features at the first delta, in scope."""
    sets: tuple[CalibrationSet, ...]
    """The seed first, then every arm."""
    correlations: tuple[Correlation, ...]
    """Every (delta, scope, variant) choice."""
    seconds: float
    """Wall time."""
    created: str
    """ISO time it finished."""

    @property
    def best(self) -> Correlation | None:
        """The choice with the highest Pearson r (None when none is defined)."""
        defined = [c for c in self.correlations if c.pearson is not None]
        return max(defined, key=lambda c: c.pearson or 0.0) if defined else None

    @property
    def default(self) -> Correlation | None:
        """Binary FAC at the first delta on the task-relevant features (all features without a relevant set)."""
        return next((c for c in self.correlations if c.variant == "fac"), None)

    def verdict(self) -> str:
        """One sentence a user can act on."""
        best, default = self.best, self.default
        if best is None or default is None:
            return "FAC did not vary (or AUPRC did not) across the sets: the calibration cannot tell."
        trust = "tracks" if (default.pearson or 0.0) >= TRACKS else "does not track"
        return (f"With the default choice (delta {default.threshold:g}, {default.scope} features) FAC {trust} AUPRC on "
                f"this task (Pearson r = {_r(default.pearson)}, Spearman {_r(default.spearman)}); the best choice is "
                f"{best.variant} at delta {best.threshold:g} on {best.scope} features (r = {_r(best.pearson)}).")

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types with the format tag."""
        return {"format": FORMAT, "name": self.name, "config": self.config.to_json_dict(), "anchor": self.anchor,
                "seed": self.seed, "test": self.test, "model": self.model, "sae": self.sae,
                "n_holdout": self.n_holdout, "n_reference": self.n_reference, "n_missing": self.n_missing,
                "sets": [s.to_json_dict() for s in self.sets], "correlations": [asdict(c) for c in self.correlations],
                "seconds": self.seconds, "created": self.created, "verdict": self.verdict()}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "CalibrationResult":
        """Inverse of `to_json_dict`."""
        if data.get("format") != FORMAT:
            raise ValueError("not a FAC Studio calibration")
        return cls(name=data["name"], config=CalibrationConfig.from_json_dict(data["config"]), anchor=data["anchor"],
                   seed=data["seed"], test=data["test"], model=data["model"], sae=data["sae"],
                   n_holdout=int(data["n_holdout"]), n_reference=int(data["n_reference"]),
                   n_missing=int(data["n_missing"]), sets=tuple(CalibrationSet.from_json_dict(s) for s in data["sets"]),
                   correlations=tuple(Correlation(**c) for c in data["correlations"]), seconds=float(data["seconds"]),
                   created=data["created"])


def _r(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def calibration_path(workspace_root: Path, name: str) -> Path:
    """`<workspace>/.calibrations/<name>.json`."""
    return Path(workspace_root) / CALIBRATIONS / f"{check_name(name)}.json"


def save_calibration(workspace_root: Path, result: CalibrationResult) -> Path:
    """Write the result atomically; returns its path."""
    path = calibration_path(workspace_root, result.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(result.to_json_dict(), indent=1) + "\n", encoding="utf-8")
    return path


def load_calibration(workspace_root: Path, name: str) -> CalibrationResult:
    """A saved calibration; FacError when it is missing or unreadable."""
    path = calibration_path(workspace_root, name)
    try:
        return CalibrationResult.from_json_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise FacError(f"No calibration {name!r} in {workspace_root}; run `fac calibrate` first.") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise FacError(f"{path} is not a readable calibration ({exc}); run `fac calibrate` again.") from exc


def calibration_names(workspace_root: Path) -> list[str]:
    """Saved calibrations, newest first."""
    folder = Path(workspace_root) / CALIBRATIONS
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
    return [p.stem for p in files]
