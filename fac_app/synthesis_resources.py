"""What the synthesis and review pages need from the engine: the project's synthesis store, the
cached LM + SAE as a Scorer (edits are re-scored without reloading), and a job's generator."""

import streamlit as st

from fac_app import state
from fac_app.resources import cached_model, model_and_sae
from fac_engine.llm import BackendSpec, Generator, local_model_spec, make_generator
from fac_engine.models import LoadedModel, ModelSpec
from fac_engine.synthesis import JobSettings, Scorer, SynthesisStore


def store() -> SynthesisStore:
    """The current project's synthesis store (read fresh on every run: other tabs may have decided)."""
    return SynthesisStore(state.project())


def _model(spec: ModelSpec) -> LoadedModel:
    return cached_model(spec.source, spec.device, spec.dtype)


@st.cache_resource(show_spinner="Loading the language model and the SAE...")
def _scorer(source: str, device: str, dtype: str, sae: str, layer: int | None) -> Scorer:
    lm, loaded = model_and_sae(source, device, dtype, sae, layer)
    return Scorer(lm, loaded)


def scorer(settings: JobSettings) -> Scorer:
    """The Scorer of a job's LM + SAE, loaded once per server."""
    m = settings.model
    return _scorer(m.source, m.device, m.dtype, settings.sae, settings.layer)


def generator(settings: JobSettings) -> Generator:
    """The job's generator; a local one shares the cached model."""
    backend: BackendSpec = settings.backend
    if backend.kind == "openai":
        return make_generator(backend)
    return make_generator(backend, _model(local_model_spec(backend, settings.model)))
