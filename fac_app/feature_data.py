"""Cached engine reads for the feature explorer and the feature map.

Every cache is keyed on what changes its result: the project's model source, SAE path and layer
(the SAE's content identity where results depend on its weights), the feature, and the options.
Results are plain data (NamedTuples of numpy arrays, DataFrames), so st.cache_data can copy them.
"""

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st
import torch

from fac_app.resources import cached_sae, head_and_sae, model_and_sae
from fac_engine.encoding import feature_activations, probe_text
from fac_engine.errors import FacError
from fac_engine.features import (
    LogitEffects,
    NearFeatures,
    decoder_norms,
    logit_effects,
    nearest_features,
)
from fac_engine.features import map as fmap
from fac_engine.sae import SparseAutoencoder, sae_identity
from fac_engine.workspace import ProjectConfig

DEVICE = "auto"
"""The app runs the model where the engine's `auto` puts it (CUDA when present, else CPU)."""
DTYPE = "auto"
MAP_DEVICE = "cpu"
"""The map only needs the decoder on the CPU (UMAP runs there)."""
RELEVANT_LIST = "relevant"
"""The project feature list whose members the map colours as task-relevant."""


class ProbeResult(NamedTuple):
    """Which features fire on a typed text, as plain arrays."""

    tokens: list[str]
    """Decoded tokens, chat-template prefix included."""
    content_start: int
    """t0: tokens before it are the template."""
    features: np.ndarray
    """int64[F] features active on some content token, strongest first."""
    max_values: np.ndarray
    """float32[F] their max activation over content tokens (g_i of the text)."""
    peak: np.ndarray
    """int64[F] the token position of each max."""
    active_tokens: np.ndarray
    """int64[F] content tokens on which each is active."""
    values: np.ndarray
    """float32[T, W] per-token sparse code values."""
    indices: np.ndarray
    """int64[T, W] per-token sparse code feature ids."""

    def token_activations(self, feature: int) -> list[float]:
        """One feature's activation on each token (0 where inactive)."""
        return [float(v) for v in feature_activations(self.values, self.indices, feature)]


@st.cache_resource(show_spinner="Hashing the SAE...")
def _identity(sae_path: str, layer: int | None, device: str) -> str:
    return sae_identity(cached_sae(sae_path, layer, device))


def sae_identity_of(cfg: ProjectConfig) -> str:
    """Content identity of the project's SAE as the explorer loads it (compare with a manifest's `sae`)."""
    head, _ = head_and_sae(cfg.model, DEVICE, DTYPE, cfg.sae, cfg.layer)
    return _identity(cfg.sae, cfg.layer, str(head.device))


@st.cache_resource(show_spinner=False)
def _norms(sae_path: str, layer: int | None, device: str) -> np.ndarray:
    return decoder_norms(cached_sae(sae_path, layer, device).W_dec).cpu().numpy()


@st.cache_data(show_spinner=False, max_entries=512)
def _nearest(model: str, sae_path: str, layer: int | None, feature: int, k: int) -> NearFeatures:
    head, sae = head_and_sae(model, DEVICE, DTYPE, sae_path, layer)
    norms = torch.from_numpy(_norms(sae_path, layer, str(head.device))).to(sae.device)
    return nearest_features(sae.W_dec, feature, k, norms)


def nearest(cfg: ProjectConfig, feature: int, k: int = 10) -> NearFeatures:
    """The k features whose decoder directions are closest (cosine) to `feature`'s."""
    return _nearest(cfg.model, cfg.sae, cfg.layer, int(feature), int(k))


class TokenEffects(NamedTuple):
    """Promoted and suppressed tokens of a feature, with their strings."""

    effects: LogitEffects
    promoted: list[str]
    """Decoded strings of `effects.promoted`."""
    suppressed: list[str]
    """Decoded strings of `effects.suppressed`."""


@st.cache_data(show_spinner=False, max_entries=512)
def _token_effects(model: str, sae_path: str, layer: int | None, feature: int, with_norm: bool,
                   k: int) -> TokenEffects:
    head, sae = head_and_sae(model, DEVICE, DTYPE, sae_path, layer)
    if not 0 <= feature < sae.cfg.d_sae:
        raise FacError(f"Feature {feature} does not exist; the project's SAE has features 0..{sae.cfg.d_sae - 1}.")
    unembed = head.unembedding
    effects = logit_effects(sae.W_dec[feature], unembed.W_U_VD, unembed.norm_weight if with_norm else None, k)
    decode = head.tokenizer.decode
    return TokenEffects(effects, [str(decode([int(i)])) for i in effects.promoted],
                        [str(decode([int(i)])) for i in effects.suppressed])


def token_effects(cfg: ProjectConfig, feature: int, with_norm: bool = True, k: int = 10) -> TokenEffects:
    """Tokens the feature's decoder direction promotes / suppresses through the unembedding."""
    return _token_effects(cfg.model, cfg.sae, cfg.layer, int(feature), bool(with_norm), int(k))


@st.cache_data(show_spinner=False, max_entries=64)
def _probe(model: str, sae_path: str, layer: int | None, text: str, chat: bool) -> ProbeResult:
    lm, sae = model_and_sae(model, DEVICE, DTYPE, sae_path, layer)
    found = probe_text(lm, sae, text, chat=chat)
    pooled = found.pooled
    return ProbeResult(found.tokens, found.content_start, pooled.features.numpy(), pooled.max_values.numpy(),
                       pooled.argmax.numpy(), pooled.counts.numpy(), found.codes.values.numpy(),
                       found.codes.indices.numpy())


def probe(cfg: ProjectConfig, text: str, chat: bool = True) -> ProbeResult:
    """The features that fire on `text` through the project's model and SAE (cached per text)."""
    return _probe(cfg.model, cfg.sae, cfg.layer, text, bool(chat))


def map_sae(cfg: ProjectConfig) -> tuple[SparseAutoencoder, str]:
    """The project's SAE on the CPU and its content identity (both cached per server)."""
    return cached_sae(cfg.sae, cfg.layer, MAP_DEVICE), _identity(cfg.sae, cfg.layer, MAP_DEVICE)


@st.cache_data(show_spinner=False, max_entries=8)
def _read_map(path: str, mtime: float, d_sae: int) -> pd.DataFrame | None:
    del mtime  # part of the key: a recomputed file is read again
    return fmap.read_cached_map(Path(path), fmap.MapConfig(), d_sae)


def cached_map(cfg: ProjectConfig) -> pd.DataFrame | None:
    """DataFrame[feature, x, y] of the project's SAE when its map is on disk, else None."""
    sae, identity = map_sae(cfg)
    path = fmap.feature_map_path(identity)
    if not path.is_file():
        return None
    return _read_map(str(path), path.stat().st_mtime, sae.cfg.d_sae)


def compute_map(cfg: ProjectConfig) -> None:
    """Compute and cache the map of the project's SAE, showing progress (minutes for 65,536 features)."""
    sae, identity = map_sae(cfg)
    with st.status(f"Computing the feature map of {sae.cfg.d_sae:,} features (once per SAE)...",
                   expanded=True) as status:
        bar = st.progress(0.0)

        def show(fraction: float, message: str) -> None:
            bar.progress(fraction, text=message)

        fmap.feature_map(sae, identity=identity, progress=show)
        status.update(label="Feature map computed and cached.", state="complete", expanded=False)
