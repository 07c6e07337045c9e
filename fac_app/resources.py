"""Cached engine resources for the app. Every argument that changes the result is in the key."""

import streamlit as st

from fac_engine.models import LoadedModel, ModelSpec, OutputHead, load_model, output_head
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
    return lm, _fitting_sae(sae_path, layer, lm)


def _cached_full_model(spec: ModelSpec) -> LoadedModel:
    return cached_model(spec.source, spec.device, spec.dtype)


@st.cache_resource(show_spinner="Reading the model's unembedding and tokenizer...")
def cached_head(source: str, device: str, dtype: str) -> OutputHead:
    """The model's unembedding and tokenizer, read without loading the model where the weight files allow
    (otherwise from the cached full model)."""
    return output_head(ModelSpec(source=source, device=device, dtype=dtype), full_model=_cached_full_model)


def head_and_sae(
    source: str, device: str, dtype: str, sae_path: str, layer: int | None
) -> tuple[OutputHead, SparseAutoencoder]:
    """The model's output head and the SAE, checked to fit each other (FacError otherwise)."""
    head = cached_head(source, device, dtype)
    return head, _fitting_sae(sae_path, layer, head)


def _fitting_sae(sae_path: str, layer: int | None, model: LoadedModel | OutputHead) -> SparseAutoencoder:
    """The cached SAE on the model's device, checked against its hidden size and layer count."""
    sae = cached_sae(sae_path, layer, str(model.device))
    check_sae_fits_model(sae, model.hidden_size, model.num_layers)
    return sae
