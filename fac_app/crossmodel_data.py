"""Cached reads for the Cross-model page: saved feature maps, their agreement, and which project works in
which feature space (for the explanations shown side by side)."""

from pathlib import Path

import streamlit as st

from fac_app import state
from fac_engine.crossmodel import (
    MAP_FILE,
    AgreementResult,
    FeatureMap,
    FeatureSpace,
    agreement_path,
    load_agreement,
    load_map,
    map_folder,
)
from fac_engine.workspace import Project, Workspace


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.is_file() else 0.0


@st.cache_data(show_spinner=False, max_entries=16)
def _map(root: str, name: str, mtime: float) -> FeatureMap:
    del mtime  # cache key: `fac match --out NAME` again rewrites the folder
    return load_map(Path(root), name)


def feature_map(name: str) -> FeatureMap:
    """A saved map of the session's workspace (re-read when it is rewritten; FacError when unreadable)."""
    root = state.workspace_root()
    return _map(str(root), name, _mtime(map_folder(root, name) / MAP_FILE))


@st.cache_data(show_spinner=False, max_entries=16)
def _agreement(root: str, name: str, mtime: float) -> AgreementResult | None:
    del mtime  # cache key: `fac match agreement` again rewrites the file
    return load_agreement(Path(root), name)


def agreement(name: str) -> AgreementResult | None:
    """The agreement saved with a map (None when none was measured)."""
    root = state.workspace_root()
    return _agreement(str(root), name, _mtime(agreement_path(root, name)))


def projects() -> list[str]:
    """Projects of the workspace."""
    return Project.names(state.workspace_root())


def project_in_space(space: FeatureSpace, names: list[str]) -> str | None:
    """The first project whose anchor dataset was encoded with the space's SAE (None when there is none)."""
    workspace = Workspace(state.workspace_root())
    for name in names:
        anchor = Project(workspace.root, name).config.anchor
        manifest = workspace.manifest(anchor) if anchor else None
        if manifest is not None and manifest.sae == space.sae:
            return name
    return None


def explanations(project: str | None) -> dict[int, str]:
    """A project's explanations by feature (empty without a project); read fresh: they are edited elsewhere."""
    return {} if project is None else Project(state.workspace_root(), project).explanations()
