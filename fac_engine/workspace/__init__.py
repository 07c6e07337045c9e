"""Encoded datasets on disk (the layout every writer produces and every reader uses), projects, and the one
runner of background jobs.
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
    from fac_engine.workspace.jobs import (
        JobKind,
        JobState,
        JobStatus,
        forget_job,
        job_status,
        list_jobs,
        start_encode_job,
        start_job,
        stop_job,
    )
    from fac_engine.workspace.project import DEFAULT_PROJECT, MarkSource, Project, ProjectConfig, RELEVANT

_PUBLIC = {
    "DEFAULT_PROJECT": "project",
    "EncodedDataset": "datasets",
    "JobKind": "jobs",
    "JobState": "jobs",
    "JobStatus": "jobs",
    "MANIFEST": "datasets",
    "Manifest": "datasets",
    "MarkSource": "project",
    "Project": "project",
    "ProjectConfig": "project",
    "RELEVANT": "project",
    "Workspace": "datasets",
    "check_comparable": "datasets",
    "check_name": "datasets",
    "forget_job": "jobs",
    "job_status": "jobs",
    "list_jobs": "jobs",
    "start_encode_job": "jobs",
    "start_job": "jobs",
    "stop_job": "jobs",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "DEFAULT_PROJECT",
    "EncodedDataset",
    "JobKind",
    "JobState",
    "JobStatus",
    "MANIFEST",
    "Manifest",
    "MarkSource",
    "Project",
    "ProjectConfig",
    "RELEVANT",
    "Workspace",
    "check_comparable",
    "check_name",
    "forget_job",
    "job_status",
    "list_jobs",
    "start_encode_job",
    "start_job",
    "stop_job",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
