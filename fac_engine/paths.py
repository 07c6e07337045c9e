"""Where FAC Studio keeps its files: the user cache (FAC_HOME) and the workspace."""

import os
from pathlib import Path

FAC_HOME_ENV = "FAC_HOME"
WORKSPACE_ENV = "FAC_WORKSPACE"


def fac_home() -> Path:
    """The user cache folder: `$FAC_HOME`, default `~/.cache/fac-studio` (created on use)."""
    root = os.environ.get(FAC_HOME_ENV)
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "fac-studio"
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """Folder of converted language models inside the user cache."""
    path = fac_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Folder of fetched third-party data (demo and training corpora) inside the user cache."""
    path = fac_home() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_workspace() -> Path:
    """The workspace folder: `$FAC_WORKSPACE`, default `./workspace` (not created here)."""
    root = os.environ.get(WORKSPACE_ENV)
    return Path(root).expanduser() if root else Path.cwd() / "workspace"
