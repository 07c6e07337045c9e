"""How the app's tables show a column, one entry per column name, so a metric reads the same in every table
(the Coverage, Evaluation and calibration tables, the demo tour)."""

from collections.abc import Iterable
from typing import Any

import streamlit as st

_NUMBERS: dict[str, tuple[str, str]] = {
    "n_train": ("n train", "localized"),
    "samples": ("samples", "localized"),
    "n_positive": ("positive rows", "localized"),
    "fac": ("FAC", "percent"),
    "fac_freq": ("FAC freq", "percent"),
    "fac_magnitude": ("FAC magnitude", "percent"),
    "auprc": ("AUPRC", "%.4f"),
    "auprc_std": ("AUPRC std", "%.4f"),
    "roc_auc": ("ROC-AUC", "%.4f"),
    "roc_auc_std": ("ROC-AUC std", "%.4f"),
    "f1": ("F1", "%.4f"),
    "f1_std": ("F1 std", "%.4f"),
    "recall": ("recall", "%.4f"),
    "recall_std": ("recall std", "%.4f"),
    "des_std": ("DES std", "%.4f"),
    "distinct_1": ("distinct-1", "%.4f"),
    "distinct_2": ("distinct-2", "%.4f"),
    "entropy_1": ("unigram entropy (bits)", "%.3f"),
    "entropy_2": ("bigram entropy (bits)", "%.3f"),
    "mean_cosine_distance": ("embedding cosine distance", "%.4f"),
    "pearson_r": ("Pearson r", "%.3f"),
    "spearman_r": ("Spearman r", "%.3f"),
}
"""Column name -> (label, number format)."""
_HELP = {"des": "data efficiency: AUPRC / log10(n train)"}


def column_config(columns: Iterable[str], **own: Any) -> dict[str, Any]:
    """st.dataframe's column_config for a table with these columns: the shared format of every column this
    module knows, then the table's `own` entries (which win)."""
    config: dict[str, Any] = {}
    for name in columns:
        if name in _NUMBERS:
            label, number_format = _NUMBERS[name]
            config[name] = st.column_config.NumberColumn(label, format=number_format, help=_HELP.get(name))
        elif name == "des":
            config[name] = st.column_config.NumberColumn("DES", format="%.4f", help=_HELP["des"])
    return config | own
