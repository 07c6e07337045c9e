"""Cached engine resources for the app. Every argument that changes the result is in the key."""

import streamlit as st

from fac_engine.models import LoadedModel, ModelSpec, load_model
from fac_engine.sae import SparseAutoencoder, check_sae_fits_model, load_sae


@st.cache_resource(show_spinner="Loading the language model...")
def cached_model(source: str, device: str, dtype: str) -> LoadedModel:
    """The language model for (source, device, dtype); loaded once per server."""
    return load_model(ModelSpec(source=source, device=device, dtype=dtype))


@st.cache_resource(show_spinner="Loading the SAE...")
def cached_sae(path: str, layer: int | None, device: str) -> SparseAutoencoder:
    """The SAE at `path` (hook layer override `layer`) on `device`."""
    return load_sae(path, hook_layer=layer, device=device)


def model_and_sae(
    source: str, device: str, dtype: str, sae_path: str, layer: int | None
) -> tuple[LoadedModel, SparseAutoencoder]:
    """Both, checked to fit each other (FacError otherwise)."""
    lm = cached_model(source, device, dtype)
    sae = cached_sae(sae_path, layer, str(lm.device))
    check_sae_fits_model(sae, lm.hidden_size, lm.num_layers)
    return lm, sae
