"""Sparse autoencoders: one internal form, loaders for every common format, training.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.sae.identity import sae_identity
    from fac_engine.sae.load import check_sae_fits_model, load_sae
    from fac_engine.sae.model import SparseAutoencoder

_PUBLIC = {
    "SparseAutoencoder": "model",
    "check_sae_fits_model": "load",
    "load_sae": "load",
    "sae_identity": "identity",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "SparseAutoencoder",
    "check_sae_fits_model",
    "load_sae",
    "sae_identity",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
