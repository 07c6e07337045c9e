"""Task-relevant features by label contrast (docs/METHOD.md section 3, the offline alternative).

On a labelled anchor, a feature is relevant to a label when it fires on that label's samples
clearly more often than on the samples of the other labels: one-sided Fisher's exact test (the
hypergeometric tail, exact at small counts where a z-test is lenient), a Benjamini-Hochberg
false-discovery cut over all d_sae tests (without one, p <= 0.01 over 65,536 latents lets about
655 features through by chance), a smoothed log-odds floor (slices.label_log_odds) and at least
`min_samples` samples of the label. Unlabelled samples take no part. The result is the relevant
set F that coverage restricts FAC to (`fac coverage --relevant FILE`).
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from fac_engine.coverage.relevant_ids import write_relevant_ids
from fac_engine.coverage.slices import NO_LABEL, SliceCounts, label_log_odds, label_slices
from fac_engine.errors import FacError
from fac_engine.workspace.datasets import EncodedDataset


@dataclass(frozen=True)
class ContrastConfig:
    """Cuts of the label-contrast relevance test."""

    label: str
    """The label whose features are wanted (e.g. "toxic")."""
    min_log_odds: float = 1.0
    """Least smoothed log-odds ratio (natural log) of firing on the label vs the other labels."""
    fdr: float = 0.05
    """Benjamini-Hochberg false-discovery rate q: the expected share of chance features among those kept."""
    min_samples: int = 3
    """Least samples of the label on which the feature fires."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fdr) and 0 < self.fdr <= 1):
            raise ValueError(f"The false-discovery rate must be in (0, 1], not {self.fdr}.")
        if not math.isfinite(self.min_log_odds):
            raise ValueError(f"The log-odds floor must be a finite number, not {self.min_log_odds}.")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be at least 1, not {self.min_samples}.")


@dataclass(frozen=True, eq=False)
class ContrastResult:
    """Relevant features and the statistics behind them."""

    features: np.ndarray
    """int64[R] relevant feature ids, strongest log-odds first."""
    log_odds: np.ndarray
    """float64[d_sae] log-odds of every feature for the label."""
    p_value: np.ndarray
    """float64[d_sae] one-sided Fisher exact p-value of every feature."""
    q_value: np.ndarray
    """float64[d_sae] Benjamini-Hochberg adjusted p-value of every feature."""
    label: str
    """The label contrasted."""
    n_label: int
    """Samples carrying the label."""
    n_other: int
    """Samples with another label (unlabelled samples are left out)."""
    fdr: float
    """The false-discovery rate q the features were cut at."""

    @property
    def expected_false(self) -> float:
        """Expected chance features among those kept (at most q times their number, by Benjamini-Hochberg)."""
        return self.fdr * len(self.features)


def fisher_greater(a: np.ndarray, n: int, b: np.ndarray, m: int) -> np.ndarray:
    """One-sided Fisher exact p of firing more often on the label: P(X >= a) for X ~ Hypergeom(n + m, a + b, n),
    with a of n label samples and b of m other samples firing."""
    a = np.asarray(a, np.int64)
    k = a + np.asarray(b, np.int64)
    return np.clip(stats.hypergeom.sf(a - 1, n + m, k, n), 0.0, 1.0).astype(np.float64)


def label_contrast(slices: SliceCounts, cfg: ContrastConfig) -> ContrastResult:
    """The features relevant to `cfg.label` in label slices of an anchor (slices.label_slices)."""
    labelled = [i for i, name in enumerate(slices.names) if name != NO_LABEL]
    if cfg.label not in slices.names or cfg.label == NO_LABEL:
        known = ", ".join(slices.names[i] for i in labelled)
        raise FacError(f"Label {cfg.label!r} is not in the anchor; its labels are: {known}.")
    kept = SliceCounts(tuple(slices.names[i] for i in labelled), slices.counts[labelled], slices.sizes[labelled],
                       slices.threshold)
    s = kept.names.index(cfg.label)
    odds = label_log_odds(kept)[s]
    a = kept.counts[s].astype(np.int64)
    n = int(kept.sizes[s])
    b = kept.counts.sum(axis=0).astype(np.int64) - a
    m = int(kept.sizes.sum()) - n
    p = fisher_greater(a, n, b, m)
    q = stats.false_discovery_control(p, method="bh") if p.size else p
    keep = (odds >= cfg.min_log_odds) & (q <= cfg.fdr) & (a >= cfg.min_samples)
    ids = np.flatnonzero(keep)
    ids = ids[np.argsort(-odds[ids], kind="stable")]
    return ContrastResult(ids.astype(np.int64), odds, p, np.asarray(q, np.float64), cfg.label, n, m, cfg.fdr)


def contrast_dataset(data: EncodedDataset, cfg: ContrastConfig, threshold: float = 0.0) -> ContrastResult:
    """Label contrast over an encoded, labelled anchor (its label column, activation threshold delta)."""
    if not data.manifest.label_field:
        raise FacError(f"{data.name!r} has no label column; encode it with --label-field.")
    labels = np.asarray(data.samples(["label"]).column("label").to_pylist(), dtype=object)
    return label_contrast(label_slices(data.pooled_arrays(with_samples=True), labels, threshold), cfg)


def write_relevant_file(path: Path, result: ContrastResult, note: str) -> None:
    """The relevant features of a label contrast, as `write_relevant_ids` writes them."""
    write_relevant_ids(path, result.features.tolist(),
                       [note, f"{len(result.features)} features relevant to label {result.label!r} "
                              f"(false-discovery rate {result.fdr:g}: about {result.expected_false:.1f} by chance)"])
