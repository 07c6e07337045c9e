"""Plotly figure builders (pure functions: data in, figure out), shared by the dashboard and the HTML report.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.figures.calibration import calibration_figure, calibration_table, correlation_choices
    from fac_engine.figures.coverage import coverage_heatmap, fac_bars, frequency_histogram
    from fac_engine.figures.crossmodel import (
        agreement_table,
        cka_figure,
        confidence_histogram,
        fac_agreement_figure,
        pairs_table,
    )
    from fac_engine.figures.evaluation import (
        CATEGORY_METRICS,
        category_heatmap,
        category_table,
        correlation_table,
        diversity_figure,
        evaluation_table,
        fac_auprc_figure,
        r_text,
    )
    from fac_engine.figures.features import (
        CATEGORIES,
        CATEGORY_HELP,
        activation_histogram,
        feature_map_figure,
        map_categories,
        selected_features,
    )

_PUBLIC = {
    "CATEGORIES": "features",
    "CATEGORY_HELP": "features",
    "CATEGORY_METRICS": "evaluation",
    "activation_histogram": "features",
    "agreement_table": "crossmodel",
    "calibration_figure": "calibration",
    "calibration_table": "calibration",
    "category_heatmap": "evaluation",
    "category_table": "evaluation",
    "cka_figure": "crossmodel",
    "confidence_histogram": "crossmodel",
    "correlation_choices": "calibration",
    "correlation_table": "evaluation",
    "coverage_heatmap": "coverage",
    "diversity_figure": "evaluation",
    "evaluation_table": "evaluation",
    "fac_agreement_figure": "crossmodel",
    "fac_auprc_figure": "evaluation",
    "fac_bars": "coverage",
    "feature_map_figure": "features",
    "frequency_histogram": "coverage",
    "map_categories": "features",
    "pairs_table": "crossmodel",
    "r_text": "evaluation",
    "selected_features": "features",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "CATEGORIES",
    "CATEGORY_HELP",
    "CATEGORY_METRICS",
    "activation_histogram",
    "agreement_table",
    "calibration_figure",
    "calibration_table",
    "category_heatmap",
    "category_table",
    "cka_figure",
    "confidence_histogram",
    "correlation_choices",
    "correlation_table",
    "coverage_heatmap",
    "diversity_figure",
    "evaluation_table",
    "fac_agreement_figure",
    "fac_auprc_figure",
    "fac_bars",
    "feature_map_figure",
    "frequency_histogram",
    "map_categories",
    "pairs_table",
    "r_text",
    "selected_features",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
