"""Plotly figure builders (pure functions: data in, figure out), shared by the dashboard and the HTML report.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.figures.calibration import calibration_figure, calibration_table, correlation_choices
    from fac_engine.figures.coverage import coverage_heatmap, fac_bars, frequency_histogram
    from fac_engine.figures.evaluation import (
        correlation_table,
        diversity_figure,
        evaluation_table,
        fac_auprc_figure,
        r_text,
    )

_PUBLIC = {
    "calibration_figure": "calibration",
    "calibration_table": "calibration",
    "correlation_choices": "calibration",
    "correlation_table": "evaluation",
    "coverage_heatmap": "coverage",
    "diversity_figure": "evaluation",
    "evaluation_table": "evaluation",
    "fac_auprc_figure": "evaluation",
    "fac_bars": "coverage",
    "frequency_histogram": "coverage",
    "r_text": "evaluation",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "calibration_figure",
    "calibration_table",
    "correlation_choices",
    "correlation_table",
    "coverage_heatmap",
    "diversity_figure",
    "evaluation_table",
    "fac_auprc_figure",
    "fac_bars",
    "frequency_histogram",
    "r_text",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
