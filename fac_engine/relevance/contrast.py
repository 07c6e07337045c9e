"""Task-relevant features by label contrast (docs/METHOD.md section 3, the offline alternative).

On a labelled anchor, a feature is relevant to a label when it fires on that label's samples
clearly more often than on the others: smoothed log-odds ratio at least `min_log_odds`
(slices.label_log_odds) and a one-sided two-proportion z-test p-value at most `max_p`, on at
least `min_samples` samples of the label. The result is the relevant set F that coverage
restricts FAC to (`fac coverage --relevant FILE`).
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fac_engine.atomic import atomic_file
from fac_engine.coverage.slices import SliceCounts, label_log_odds
from fac_engine.errors import FacError, check_threshold


@dataclass(frozen=True)
class ContrastConfig:
    """Cuts of the label-contrast relevance test."""

    label: str
    """The label whose features are wanted (e.g. "toxic")."""
    min_log_odds: float = 1.0
    """Least smoothed log-odds ratio (natural log) of firing on the label vs the other labels."""
    max_p: float = 0.01
    """Largest one-sided p-value of the two-proportion z-test."""
    min_samples: int = 3
    """Least samples of the label on which the feature fires."""
    threshold: float = 0.0
    """delta: a feature fires on a sample when g > delta."""

    def __post_init__(self) -> None:
        check_threshold(self.threshold, "The activation threshold")
        check_threshold(self.min_log_odds, "The least log-odds ratio")
        if not 0 < self.max_p <= 1 or self.min_samples < 1:
            raise ValueError("max_p must be in (0, 1] and min_samples at least 1.")


@dataclass(frozen=True, eq=False)
class ContrastResult:
    """Relevant features and the statistics behind them."""

    features: np.ndarray
    """int64[R] relevant feature ids, strongest log-odds first."""
    log_odds: np.ndarray
    """float64[d_sae] log-odds of every feature for the label."""
    p_value: np.ndarray
    """float64[d_sae] one-sided p-value of every feature."""
    label: str
    n_label: int
    """Samples carrying the label."""
    n_other: int
    """Samples with another label."""


def one_sided_p(a: np.ndarray, n: float, b: np.ndarray, m: float) -> np.ndarray:
    """P(rate on the label > rate elsewhere) under the null, by the pooled two-proportion z-test."""
    pooled = (a + b) / (n + m)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
    z = np.divide(a / n - b / m, se, out=np.zeros_like(pooled), where=se > 0)
    return np.array([0.5 * math.erfc(v / math.sqrt(2)) for v in z.tolist()], dtype=np.float64)


def label_contrast(slices: SliceCounts, cfg: ContrastConfig) -> ContrastResult:
    """The features relevant to `cfg.label` in label slices of an anchor (slices.label_slices)."""
    if cfg.label not in slices.names:
        raise FacError(f"Label {cfg.label!r} is not in the anchor; its labels are: {', '.join(slices.names)}.")
    s = slices.names.index(cfg.label)
    odds = label_log_odds(slices)[s]
    a = slices.counts[s].astype(np.float64)
    n = float(slices.sizes[s])
    b = slices.counts.sum(axis=0).astype(np.float64) - a
    m = float(slices.sizes.sum()) - n
    p = one_sided_p(a, n, b, m)
    keep = (odds >= cfg.min_log_odds) & (p <= cfg.max_p) & (a >= cfg.min_samples)
    ids = np.flatnonzero(keep)
    ids = ids[np.argsort(-odds[ids], kind="stable")]
    return ContrastResult(ids.astype(np.int64), odds, p, cfg.label, int(n), int(m))


def write_relevant_ids(path: Path, features: Iterable[int], notes: Iterable[str]) -> None:
    """One feature id per line after `# note` header lines (what `coverage.read_relevant_file` reads)."""
    lines = [f"# {note}" for note in notes] + [str(int(f)) for f in features]
    with atomic_file(Path(path)) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_relevant_file(path: Path, result: ContrastResult, note: str) -> None:
    """The relevant features of a label contrast, as `write_relevant_ids` writes them."""
    write_relevant_ids(path, result.features.tolist(),
                       [note, f"{len(result.features)} features relevant to label {result.label!r}"])
