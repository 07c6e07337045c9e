"""Sparse autoencoders: one internal form, loaders for every common format, training."""

from fac_engine.sae.config import SaeConfig
from fac_engine.sae.model import SparseAutoencoder, SparseCodes

__all__ = ["SaeConfig", "SparseAutoencoder", "SparseCodes"]
