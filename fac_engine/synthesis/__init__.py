"""FAC Synthesis: prompts, two-step runs, scoring through the SAE, dedup, the curation store, review, export.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.synthesis.candidates import MODES, STATUSES, Candidate, Provenance, ReviewStatus
    from fac_engine.synthesis.curation import JobProgress, SynthesisStore
    from fac_engine.synthesis.export import accepted_frame, with_seed, write_export
    from fac_engine.synthesis.fluency import FluencyConfig
    from fac_engine.synthesis.job import (
        JobSettings,
        job_state,
        start_background,
        stop_background,
    )
    from fac_engine.synthesis.review import (
        RoleBreaks,
        accept_above,
        edit_candidate,
        live_coverage,
        regenerate,
        role_breaks,
    )
    from fac_engine.synthesis.scoring import Scorer
    from fac_engine.synthesis.templates import EVIDENCE, TASKS, TaskName
    from fac_engine.synthesis.twostep import SynthesisConfig

_PUBLIC = {
    "Candidate": "candidates",
    "EVIDENCE": "templates",
    "FluencyConfig": "fluency",
    "MODES": "candidates",
    "Provenance": "candidates",
    "ReviewStatus": "candidates",
    "STATUSES": "candidates",
    "JobProgress": "curation",
    "JobSettings": "job",
    "Scorer": "scoring",
    "SynthesisConfig": "twostep",
    "SynthesisStore": "curation",
    "TASKS": "templates",
    "TaskName": "templates",
    "accept_above": "review",
    "accepted_frame": "export",
    "edit_candidate": "review",
    "job_state": "job",
    "live_coverage": "review",
    "regenerate": "review",
    "role_breaks": "review",
    "RoleBreaks": "review",
    "start_background": "job",
    "stop_background": "job",
    "with_seed": "export",
    "write_export": "export",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "EVIDENCE",
    "MODES",
    "STATUSES",
    "TASKS",
    "Candidate",
    "FluencyConfig",
    "JobProgress",
    "JobSettings",
    "Provenance",
    "ReviewStatus",
    "RoleBreaks",
    "Scorer",
    "SynthesisConfig",
    "SynthesisStore",
    "TaskName",
    "accept_above",
    "accepted_frame",
    "edit_candidate",
    "job_state",
    "live_coverage",
    "regenerate",
    "role_breaks",
    "start_background",
    "stop_background",
    "with_seed",
    "write_export",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
