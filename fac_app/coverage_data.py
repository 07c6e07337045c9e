"""Cached coverage computations for the home, coverage and missing-features pages.

Each cache is keyed on the workspace, the dataset names, their manifest times (state._version)
and the threshold, so a re-encoded dataset or a moved slider never returns stale numbers. The
pooled codes themselves stay in memory once per server (state.pooled_arrays); what is cached
here is small (per-feature vectors, slice counts, tables).
"""

from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import streamlit as st

from fac_app import state
from fac_engine.coverage import (
    SEPARATOR,
    DiversityResult,
    FeatureGroups,
    LabelCodes,
    SliceCounts,
    cluster_groups,
    frequency_groups,
    label_codes,
    label_slices,
    missing_frame,
    stack_slices,
    text_diversity,
    top_features,
    whole_slice,
)
from fac_engine.errors import FacError
from fac_engine.workspace import Manifest, Workspace, check_comparable

MAX_LABEL_SLICES = 20
"""A dataset with more distinct labels than this is drawn as one row (a row per label would not be readable)."""
EMBED_DEVICE = "auto"


def _versions(names: list[str]) -> tuple[float, ...]:
    root = state.workspace_root()
    return tuple(state._version(root, n) for n in names)


def manifests() -> dict[str, Manifest]:
    """The manifest of every complete dataset in the workspace, by name."""
    workspace = Workspace(state.workspace_root())
    return {name: m for name in workspace.names() if (m := workspace.manifest(name)) is not None}


def comparable(anchor: str, names: list[str]) -> tuple[list[str], list[str]]:
    """(datasets encoded with the anchor's model, SAE and layer, the others)."""
    found = manifests()
    ok, other = [], []
    for name in names:
        try:
            check_comparable(found[anchor], found[name])
            ok.append(name)
        except FacError:
            other.append(name)
    return ok, other


@st.cache_data(show_spinner=False, max_entries=16)
def _codes(root: str, name: str, version: float) -> LabelCodes | None:
    del root, version
    labels = state.sample_labels(name)
    return None if labels is None else label_codes(labels)


def codes(name: str) -> LabelCodes | None:
    """A dataset's labels as codes into its distinct label names (None without a label column)."""
    root = state.workspace_root()
    return _codes(str(root), name, state._version(root, name))


def label_count(name: str) -> int:
    """Distinct labels of a dataset (0 without a label column)."""
    found = codes(name)
    return 0 if found is None else len(found.names)


@st.cache_data(show_spinner=False, max_entries=64)
def _dataset_slices(root: str, name: str, version: float, threshold: float, split: bool) -> SliceCounts:
    del root, version  # cache key; the state helpers read the same workspace
    found = codes(name) if split else None
    if found is not None:
        return label_slices(state.pooled_arrays(name), found, threshold)
    return whole_slice(state.support(name, threshold), name)


def dataset_slices(name: str, threshold: float, split: bool) -> SliceCounts:
    """A dataset as one slice (named after it), or one slice per label (named by the label) when `split`."""
    root = state.workspace_root()
    return _dataset_slices(str(root), name, state._version(root, name), float(threshold), bool(split))


def heatmap_slices(rows: list[str], split: set[str], threshold: float) -> SliceCounts:
    """The stacked slices of the heatmap's rows; label slices are named `dataset · label`."""
    parts = []
    for name in rows:
        part = dataset_slices(name, threshold, name in split)
        if name in split and codes(name) is not None:
            part = replace(part, names=tuple(f"{name}{SEPARATOR}{label}" for label in part.names))
        parts.append(part)
    return stack_slices(parts)


class ShownFeatures(NamedTuple):
    """The heatmap's columns and what they are a part of."""

    groups: FeatureGroups
    """Features in display order with their groups."""
    anchor_active: int
    """Features the anchor activates at delta (what could be shown)."""


@st.cache_data(show_spinner=False, max_entries=32)
def _shown(root: str, anchor: str, version: float, threshold: float, top_n: int, grouping: str, k: int,
           sae_path: str, layer: int | None, sae_version: float, relevant: frozenset[int] | None) -> ShownFeatures:
    del root, version, sae_version
    support = state.support(anchor, threshold)
    features = top_features(support.count, top_n, relevant)
    fraction = support.count / max(support.n_samples, 1)
    if grouping == "clusters" and features.size:
        from fac_app.resources import cached_sae  # torch loads in about a second: only for this view

        sae = cached_sae(sae_path, layer, "cpu")
        if sae.cfg.d_sae != support.d_sae:
            raise FacError(f"The project's SAE ({sae_path}) has {sae.cfg.d_sae:,} features but {anchor!r} was "
                           f"encoded with {support.d_sae:,}; set the SAE it was encoded with on the home page.")
        directions = sae.W_dec.detach()[features].float().cpu().numpy()
        groups = cluster_groups(features, directions, fraction, k)
    else:
        groups = frequency_groups(features, fraction)
    return ShownFeatures(groups, anchor_active(anchor, threshold, relevant))


def anchor_active(anchor: str, threshold: float, relevant: frozenset[int] | None) -> int:
    """Features the anchor activates at delta (only task-relevant ones when `relevant` is given)."""
    return len(top_features(state.support(anchor, threshold).count, None, relevant))


def shown_features(anchor: str, threshold: float, top_n: int, grouping: str, k: int) -> ShownFeatures:
    """The anchor's `top_n` most frequent features at delta (task-relevant ones when the project counts only them),
    grouped by frequency band or decoder cluster."""
    root = state.workspace_root()
    cfg = state.project().config
    sae_path = Path(cfg.sae).expanduser()
    sae_version = sae_path.stat().st_mtime if sae_path.exists() else 0.0
    return _shown(str(root), anchor, state._version(root, anchor), float(threshold), int(top_n), grouping, int(k),
                  str(sae_path), cfg.layer, sae_version, state.relevant_set())


def fac_frame(anchor: str, names: list[str], threshold: float) -> pd.DataFrame:
    """FAC and its variants of each dataset against the anchor (datasets that cannot be compared are left out)."""
    rows = []
    for name in names:
        result = state.coverage(anchor, name, threshold)
        rows.append({"dataset": name, "fac": result.fac, "fac_freq": result.fac_freq,
                     "fac_magnitude": result.fac_magnitude, "covered": result.covered,
                     "anchor_features": result.anchor_features, "dataset_features": result.seed_features,
                     "missing": len(result.missing), "samples": result.seed_samples})
    return pd.DataFrame(rows, columns=["dataset", "fac", "fac_freq", "fac_magnitude", "covered", "anchor_features",
                                       "dataset_features", "missing", "samples"])


@st.cache_resource(show_spinner="Loading the sentence-embedding model...")
def _sentence_encoder() -> object:
    from fac_engine.models import load_sentence_encoder

    return load_sentence_encoder(EMBED_DEVICE)


@st.cache_data(show_spinner=False, max_entries=32)
def _diversity(root: str, name: str, version: float, embeddings: bool) -> DiversityResult:
    del version
    texts = [str(t) for t in Workspace(Path(root)).open(name).samples(["text"]).column("text").to_pylist()]
    embed = _sentence_encoder().embed if embeddings else None  # type: ignore[attr-defined]
    return text_diversity(texts, embed)


def diversity(name: str, embeddings: bool) -> DiversityResult:
    """Text-diversity baselines of a dataset (cached; embeddings only when asked: they are slow)."""
    root = state.workspace_root()
    return _diversity(str(root), name, state._version(root, name), bool(embeddings))


@st.cache_data(show_spinner=False, max_entries=16)
def _missing(root: str, anchor: str, seed: str, versions: tuple[float, ...], threshold: float,
             relevant: frozenset[int] | None) -> pd.DataFrame:
    del root, versions, relevant  # keys of the cache: state.coverage reads the project's F itself
    result = state.coverage(anchor, seed, threshold)
    labels = dataset_slices(anchor, threshold, split=True) if 2 <= label_count(anchor) <= MAX_LABEL_SLICES else None
    return missing_frame(result.missing, state.support(anchor, threshold), labels)


def missing_table(anchor: str, seed: str, threshold: float) -> pd.DataFrame:
    """The missing features of seed vs anchor at delta, with their explanations (a fresh copy per call)."""
    root = state.workspace_root()
    frame = _missing(str(root), anchor, seed, _versions([anchor, seed]), float(threshold), state.relevant_set()).copy()
    frame["explanation"] = frame["feature"].map(state.project().explanations()).fillna("").astype(str)
    return frame

