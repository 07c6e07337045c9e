"""Encoded datasets on disk (the layout every writer produces and every reader uses), projects, background jobs.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.workspace.datasets import (
        EncodedDataset,
        MANIFEST,
        Manifest,
        Workspace,
        check_comparable,
        check_name,
    )
    from fac_engine.workspace.jobs import JobStatus, cancel_job, forget_job, list_jobs, start_encode_job
    from fac_engine.workspace.project import DEFAULT_PROJECT, Project, ProjectConfig, RELEVANT

_PUBLIC = {
    "DEFAULT_PROJECT": "project",
    "EncodedDataset": "datasets",
    "JobStatus": "jobs",
    "MANIFEST": "datasets",
    "Manifest": "datasets",
    "Project": "project",
    "ProjectConfig": "project",
    "RELEVANT": "project",
    "Workspace": "datasets",
    "cancel_job": "jobs",
    "check_comparable": "datasets",
    "check_name": "datasets",
    "forget_job": "jobs",
    "list_jobs": "jobs",
    "start_encode_job": "jobs",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "DEFAULT_PROJECT",
    "EncodedDataset",
    "JobStatus",
    "MANIFEST",
    "Manifest",
    "Project",
    "ProjectConfig",
    "RELEVANT",
    "Workspace",
    "cancel_job",
    "check_comparable",
    "check_name",
    "forget_job",
    "list_jobs",
    "start_encode_job",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
