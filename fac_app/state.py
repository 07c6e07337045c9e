"""Session state and cached workspace reads shared by every page.

Pages call these instead of touching `st.session_state` keys or the store directly, so the
keys live in one place and every cached read is keyed on what changes its result (the
workspace, the dataset name, its manifest's modification time, the threshold).
"""

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from fac_app.markup import escape_inline
from fac_app.navigation import app_pages
from fac_engine.coverage import (
    CoverageConfig,
    CoverageResult,
    FeatureSupport,
    PooledArrays,
    compute_coverage,
    feature_support,
)
from fac_engine.errors import FacError
from fac_engine.features import FeatureReport, feature_report, feature_stats_frame
from fac_engine.paths import default_workspace
from fac_engine.workspace import DEFAULT_PROJECT, MANIFEST, EncodedDataset, Project, Workspace, check_comparable

WORKSPACE_KEY = "fac_workspace"
PROJECT_KEY = "fac_project"
FEATURE_KEY = "fac_feature"
"""The feature the explorer shows (set by other pages when a feature is clicked)."""
SELECTION_KEY = "fac_selection"
"""Feature ids picked on the map or the missing-features table, not yet saved to a list."""


def workspace_root() -> Path:
    """The workspace of this session ($FAC_WORKSPACE or ./workspace unless changed on the home page)."""
    if WORKSPACE_KEY not in st.session_state:
        st.session_state[WORKSPACE_KEY] = str(default_workspace())
    return Path(st.session_state[WORKSPACE_KEY])


def set_workspace(root: Path) -> None:
    """Work in another workspace folder (its default project)."""
    st.session_state[WORKSPACE_KEY] = str(root)
    st.session_state[PROJECT_KEY] = DEFAULT_PROJECT


def project() -> Project:
    """The current project (created on first use)."""
    if PROJECT_KEY not in st.session_state:
        st.session_state[PROJECT_KEY] = DEFAULT_PROJECT
    return Project(workspace_root(), st.session_state[PROJECT_KEY])


def set_project(name: str) -> None:
    """Make `name` the current project."""
    st.session_state[PROJECT_KEY] = name


def _version(root: Path, name: str) -> float:
    """Changes whenever the dataset is re-encoded (its manifest is rewritten)."""
    path = root / name / MANIFEST
    return path.stat().st_mtime if path.is_file() else 0.0


def dataset_names() -> list[str]:
    """Completely encoded datasets of the workspace."""
    return Workspace(workspace_root()).names()


def open_dataset(name: str) -> EncodedDataset:
    """A complete dataset of the workspace (FacError otherwise)."""
    return Workspace(workspace_root()).open(name)


@st.cache_resource(show_spinner=False, max_entries=8)
def _pooled(root: str, name: str, version: float) -> PooledArrays:
    del version
    arrays = Workspace(Path(root)).open(name).pooled_arrays(with_samples=True)
    for array in (arrays.sample, arrays.feature, arrays.value):
        if array is not None:
            array.flags.writeable = False  # shared by every session: read only
    return arrays


def pooled_arrays(name: str) -> PooledArrays:
    """A dataset's pooled codes with sample ids, read once per server and kept in memory (read only).

    A threshold change then costs a pass over arrays in memory, not a parquet read per dataset.
    """
    root = workspace_root()
    return _pooled(str(root), name, _version(root, name))


@st.cache_data(show_spinner=False, max_entries=64)
def _support(root: str, name: str, version: float, threshold: float) -> FeatureSupport:
    return feature_support(_pooled(root, name, version), threshold)


def support(name: str, threshold: float) -> FeatureSupport:
    """Per-feature support of a dataset at delta (cached until the dataset changes)."""
    root = workspace_root()
    return _support(str(root), name, _version(root, name), float(threshold))


def relevant_set() -> frozenset[int] | None:
    """The project's task-relevant features F when the project counts only them (None: all features)."""
    proj = project()
    if not proj.config.relevant_only:
        return None
    return proj.relevant_features() or None


def coverage(anchor: str, seed: str, threshold: float) -> CoverageResult:
    """FAC of `seed` against `anchor` at delta over the project's features F (FacError when they cannot be
    compared)."""
    check_comparable(open_dataset(anchor).manifest, open_dataset(seed).manifest)
    cfg = CoverageConfig(threshold=threshold, relevant=relevant_set())
    return compute_coverage(support(seed, threshold), support(anchor, threshold), cfg)


@st.cache_data(show_spinner=False, max_entries=16)
def _stats(root: str, name: str, version: float) -> pd.DataFrame:
    del version
    return feature_stats_frame(Workspace(Path(root)).open(name))


def stats_frame(name: str) -> pd.DataFrame:
    """The per-feature statistics table of a dataset (cached)."""
    root = workspace_root()
    return _stats(str(root), name, _version(root, name))


@st.cache_data(show_spinner=False, max_entries=256)
def _report(root: str, name: str, version: float, feature: int, top: int) -> FeatureReport:
    del version
    return feature_report(Workspace(Path(root)).open(name), feature, top=top)


def report(name: str, feature: int, top: int = 10) -> FeatureReport:
    """One feature's statistics and examples in a dataset (cached)."""
    root = workspace_root()
    return _report(str(root), name, _version(root, name), int(feature), int(top))


@st.cache_data(show_spinner=False, max_entries=16)
def _labels(root: str, name: str, version: float) -> np.ndarray | None:
    del version
    data = Workspace(Path(root)).open(name)
    if not data.manifest.label_field:
        return None
    return np.asarray(data.samples(["label"]).column("label").to_pylist(), dtype=object)


def sample_labels(name: str) -> np.ndarray | None:
    """Each sample's label (None when the dataset has no label column)."""
    root = workspace_root()
    return _labels(str(root), name, _version(root, name))


def show_error(exc: FacError) -> None:
    """A user error as one red line (never a traceback; names and values in it are shown as typed)."""
    st.error(escape_inline(exc))


def remember_feature(feature: int) -> None:
    """The feature the explorer shows next."""
    st.session_state[FEATURE_KEY] = int(feature)


def shown_feature() -> int | None:
    """The feature the explorer shows (None before any was picked)."""
    value = st.session_state.get(FEATURE_KEY)
    return None if value is None else int(value)


def selection() -> set[int]:
    """Feature ids picked on the map or the missing-features table and not saved to a list yet."""
    return {int(f) for f in st.session_state.setdefault(SELECTION_KEY, [])}


def set_selection(features: Iterable[int]) -> None:
    """Replace the picked feature ids."""
    st.session_state[SELECTION_KEY] = sorted({int(f) for f in features})


def go_to_feature(feature: int) -> None:
    """Open a feature in the explorer page."""
    remember_feature(feature)
    st.switch_page(app_pages().explorer)
