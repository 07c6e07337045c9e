"""The stakeholder report: one self-contained HTML file, PNG copies of its figures.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.report.build import build_report
    from fac_engine.report.data import evaluate_command, latest_evaluation

_PUBLIC = {
    "build_report": "build",
    "evaluate_command": "data",
    "latest_evaluation": "data",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "build_report",
    "evaluate_command",
    "latest_evaluation",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
