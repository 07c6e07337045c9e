"""The missing-features table: features the anchor activates and the seed never does (docs/METHOD.md
section 1, F_miss), with what helps a person choose which ones synthesis should target."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fac_engine.coverage.fac import FeatureSupport
from fac_engine.coverage.slices import LOG_ODDS_ALPHA, SliceCounts, label_log_odds

LOG_ODDS_PREFIX = "log_odds:"
"""Column `log_odds:<label>` holds each feature's log-odds of firing on that anchor label vs the others."""


@dataclass(frozen=True)
class MissingFilter:
    """Which rows of the missing-features table to show."""

    min_frequency: float = 0.0
    """Keep features that at least this share of anchor samples activates (0..1)."""
    label: str | None = None
    """With `min_log_odds`: keep features whose log-odds for this anchor label is at least that; None: any."""
    min_log_odds: float = 0.0
    """Least log-odds for `label`."""
    text: str = ""
    """Words that must all occur in the explanation (case-insensitive); empty: no text filter."""
    min_relevance: float | None = None
    """Keep features whose relevance score is at least this (rows without a score drop out); None: no filter."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_frequency <= 1.0:
            raise ValueError(f"The least anchor frequency must be between 0 and 1, not {self.min_frequency}.")


def missing_frame(missing: Sequence[int], anchor: FeatureSupport, label_slices: SliceCounts | None = None,
                  explanations: Mapping[int, str] | None = None,
                  relevance: Mapping[int, float] | None = None) -> pd.DataFrame:
    """One row per missing feature, most frequent in the anchor first (ties by id).

    Columns: feature, anchor_samples, anchor_frequency, mean_activation, max_activation (over the
    anchor samples above delta); with `label_slices` (the anchor split by label, same delta) also
    label (the one of highest log-odds), log_odds and `log_odds:<label>` per label; explanation
    ("" when none); relevance when given (NaN where a feature has no score).
    """
    ids = np.asarray(missing, dtype=np.int64)
    count = anchor.count[ids]
    order = np.lexsort((ids, -count))
    ids, count = ids[order], count[order]
    frame = pd.DataFrame({
        "feature": ids,
        "anchor_samples": count,
        "anchor_frequency": count / max(anchor.n_samples, 1),
        "mean_activation": np.divide(anchor.total[ids], count, out=np.zeros(ids.size), where=count > 0),
        "max_activation": anchor.max[ids].astype(np.float64),
    })
    if label_slices is not None and len(label_slices.names) >= 2:
        odds_SN = label_log_odds(label_slices, LOG_ODDS_ALPHA)[:, ids]
        best = odds_SN.argmax(axis=0) if ids.size else np.zeros(0, dtype=np.int64)
        frame["label"] = np.array(label_slices.names, dtype=object)[best]
        frame["log_odds"] = odds_SN[best, np.arange(ids.size)]
        for name, row in zip(label_slices.names, odds_SN, strict=True):
            frame[LOG_ODDS_PREFIX + name] = row
    frame["explanation"] = frame["feature"].map(dict(explanations or {})).fillna("").astype(str)
    if relevance is not None:
        frame["relevance"] = frame["feature"].map(dict(relevance)).astype(np.float64)
    return frame


def filter_missing(frame: pd.DataFrame, flt: MissingFilter) -> pd.DataFrame:
    """The rows of a `missing_frame` that pass every condition of `flt`, in the same order."""
    keep = frame["anchor_frequency"] >= flt.min_frequency
    column = LOG_ODDS_PREFIX + (flt.label or "")
    if flt.label is not None and column in frame:
        keep &= frame[column] >= flt.min_log_odds
    for word in flt.text.split():
        keep &= frame["explanation"].str.contains(word, case=False, regex=False)
    if flt.min_relevance is not None and "relevance" in frame:
        keep &= frame["relevance"] >= flt.min_relevance
    return frame[keep]


def label_names(frame: pd.DataFrame) -> list[str]:
    """The anchor labels that have a log-odds column in a `missing_frame`."""
    return [c[len(LOG_ODDS_PREFIX):] for c in frame.columns if c.startswith(LOG_ODDS_PREFIX)]
