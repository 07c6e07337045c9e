"""Does the data help: linear probes on frozen hidden states or SAE codes, saved results, calibration.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.evaluation.calibration_results import (
        CalibrationResult,
        calibration_names,
        calibration_path,
        load_calibration,
    )
    from fac_engine.evaluation.results import EvalResult, evaluation_names, evaluation_path, load_evaluation

_PUBLIC = {
    "CalibrationResult": "calibration_results",
    "EvalResult": "results",
    "calibration_names": "calibration_results",
    "calibration_path": "calibration_results",
    "evaluation_names": "results",
    "evaluation_path": "results",
    "load_calibration": "calibration_results",
    "load_evaluation": "results",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "CalibrationResult",
    "EvalResult",
    "calibration_names",
    "calibration_path",
    "evaluation_names",
    "evaluation_path",
    "load_calibration",
    "load_evaluation",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
