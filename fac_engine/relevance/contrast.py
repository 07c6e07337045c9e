"""Task-relevant features by label contrast (docs/METHOD.md section 3, the offline alternative).

On a labelled anchor, a feature is relevant to a label when it fires on that label's samples
clearly more often than on the samples of the other labels: one-sided Fisher's exact test (the
hypergeometric tail, exact at small counts where a z-test is lenient), a Benjamini-Hochberg
false-discovery cut over all d_sae tests (without one, p <= 0.01 over 65,536 latents lets about
655 features through by chance), a smoothed log-odds floor (slices.label_log_odds) and at least
`min_samples` samples of the label. Unlabelled samples take no part. The result is the relevant
set F that coverage restricts FAC to (`fac coverage --relevant FILE`).

With `by` (a metadata column such as a category), the label's samples are split by that column and
each part is tested on its own against the other labels' samples: a feature specific to one rare
category is not diluted by the label's other categories. The false-discovery cut then runs over all
the (part, feature) tests together, and a feature is relevant when any part passes.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from fac_engine.coverage.relevant_ids import write_relevant_ids
from fac_engine.coverage.slices import NO_LABEL, SliceCounts, label_log_odds, label_name, label_slices
from fac_engine.encoding.columns import RESERVED_COLUMNS
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
    """Least samples of the label on which the feature fires (of the part, with `by`)."""
    by: str | None = None
    """A column of the anchor (e.g. category): test the label's samples of each of its values apart, against the
    other labels' samples; the false-discovery cut runs over all those tests; relevant when any value passes."""

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
    groups: tuple[str, ...] = ()
    """With `by`: the values whose samples were tested apart (empty without)."""
    group: np.ndarray | None = None
    """With `by`: int64[d_sae] index into `groups` of each feature's best test (least q), whose log-odds,
    p-value and q-value the arrays above hold."""
    discoveries: int | None = None
    """Tests that passed every cut (one per feature without `by`; with it a feature may pass for several values)."""

    @property
    def expected_false(self) -> float:
        """Expected chance features among those kept: at most q times the passing tests (Benjamini-Hochberg)."""
        return self.fdr * (len(self.features) if self.discoveries is None else self.discoveries)

    def group_of(self, feature: int) -> str | None:
        """The value of `by` whose samples made `feature` relevant (None without `by`)."""
        return None if self.group is None else self.groups[int(self.group[feature])]


def fisher_greater(a: np.ndarray, n: int, b: np.ndarray, m: int) -> np.ndarray:
    """One-sided Fisher exact p of firing more often on the label: P(X >= a) for X ~ Hypergeom(n + m, a + b, n),
    with a of n label samples and b of m other samples firing."""
    a = np.asarray(a, np.int64)
    k = a + np.asarray(b, np.int64)
    return np.clip(stats.hypergeom.sf(a - 1, n + m, k, n), 0.0, 1.0).astype(np.float64)


def _labelled(slices: SliceCounts) -> SliceCounts:
    """The slices without the unlabelled one."""
    keep = [i for i, name in enumerate(slices.names) if name != NO_LABEL]
    return SliceCounts(tuple(slices.names[i] for i in keep), slices.counts[keep], slices.sizes[keep], slices.threshold)


def label_contrast(slices: SliceCounts, cfg: ContrastConfig, parts: SliceCounts | None = None) -> ContrastResult:
    """The features relevant to `cfg.label` in label slices of an anchor (slices.label_slices).

    `parts`: the label's samples split by `cfg.by` (slices of the label's samples only); each is tested
    against the samples of the other labels.
    """
    kept = _labelled(slices)
    if cfg.label not in kept.names:
        raise FacError(f"Label {cfg.label!r} is not in the anchor; its labels are: {', '.join(kept.names)}.")
    s = kept.names.index(cfg.label)
    if len(kept.names) < 2:
        raise FacError("Label association needs at least two labels in the anchor set.")
    b = kept.counts.sum(axis=0).astype(np.int64) - kept.counts[s]
    m = int(kept.sizes.sum()) - int(kept.sizes[s])
    tested = parts if parts is not None else SliceCounts((cfg.label,), kept.counts[s : s + 1], kept.sizes[s : s + 1],
                                                         slices.threshold)
    if not tested.names:
        raise FacError(f"No sample labelled {cfg.label!r} has a value in column {cfg.by!r}.")
    odds_GF = np.stack([label_log_odds(SliceCounts((name, "other"), np.stack([tested.counts[g], b]),
                                                   np.array([tested.sizes[g], m]), slices.threshold))[0]
                        for g, name in enumerate(tested.names)])
    a_GF = tested.counts.astype(np.int64)
    p_GF = np.stack([fisher_greater(a_GF[g], int(tested.sizes[g]), b, m) for g in range(len(tested.names))])
    q_GF = (stats.false_discovery_control(p_GF.ravel(), method="bh").reshape(p_GF.shape) if p_GF.size
            else p_GF.astype(np.float64))
    pass_GF = (odds_GF >= cfg.min_log_odds) & (q_GF <= cfg.fdr) & (a_GF >= cfg.min_samples)
    # Each feature's best test: a passing one first, then the least q, then the largest log-odds.
    best = np.lexsort((-odds_GF, q_GF, ~pass_GF), axis=0)[0] if p_GF.size else np.zeros(0, np.int64)
    cols = np.arange(p_GF.shape[1])
    odds, p, q = odds_GF[best, cols], p_GF[best, cols], q_GF[best, cols]
    ids = np.flatnonzero(pass_GF.any(axis=0))
    ids = ids[np.argsort(-odds[ids], kind="stable")]
    grouped = parts is not None
    return ContrastResult(ids.astype(np.int64), odds, p, np.asarray(q, np.float64), cfg.label, int(kept.sizes[s]), m,
                          cfg.fdr, tested.names if grouped else (), best.astype(np.int64) if grouped else None,
                          int(pass_GF.sum()) if grouped else None)


def contrast_dataset(data: EncodedDataset, cfg: ContrastConfig, threshold: float = 0.0) -> ContrastResult:
    """Label contrast over an encoded, labelled anchor (its label column, activation threshold delta)."""
    if not data.manifest.label_field:
        raise FacError(f"{data.name!r} has no label column; encode it with --label-field.")
    labels = np.asarray(data.samples(["label"]).column("label").to_pylist(), dtype=object)
    pooled = data.pooled_arrays(with_samples=True)
    parts = None
    if cfg.by is not None:
        columns = [c for c in data.sample_columns() if c not in RESERVED_COLUMNS]
        if cfg.by not in columns:
            raise FacError(f"{data.name!r} has no column {cfg.by!r} to split the label by; its metadata columns are: "
                           f"{', '.join(columns) or 'none'}.")
        values = data.samples([cfg.by]).column(cfg.by).to_pylist()
        mine = np.array([label_name(lab) == cfg.label for lab in labels], dtype=bool)
        split = label_slices(pooled, [("(none)" if v is None else v) if m else None
                                      for v, m in zip(values, mine, strict=True)], threshold)
        parts = _labelled(split)
    return label_contrast(label_slices(pooled, labels, threshold), cfg, parts)


def write_relevant_file(path: Path, result: ContrastResult, note: str) -> None:
    """The relevant features of a label contrast, as `write_relevant_ids` writes them."""
    write_relevant_ids(path, result.features.tolist(),
                       [note, f"{len(result.features)} features relevant to label {result.label!r} "
                              f"(false-discovery rate {result.fdr:g}: about {result.expected_false:.1f} by chance)"])
