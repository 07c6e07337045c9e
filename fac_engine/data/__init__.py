"""Datasets in: readers for every file format, schemas (text, chat, instruction, preference), records.

The subpackage corpora/ builds the SAE training corpus and the demo data from package archives.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.data.dataset import SUFFIXES

_PUBLIC = {
    "SUFFIXES": "dataset",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "SUFFIXES",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
