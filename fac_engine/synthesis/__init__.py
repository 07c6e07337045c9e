"""FAC Synthesis: prompts, two-step runs, scoring through the SAE, dedup, the curation store, review, export.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.synthesis.curation import JobProgress, SynthesisStore
    from fac_engine.synthesis.export import accepted_frame, with_seed, write_export
    from fac_engine.synthesis.fluency import FluencyConfig
    from fac_engine.synthesis.job import JobSettings, job_log_tail, job_running, start_job_process, stop_job
    from fac_engine.synthesis.review import accept_above, edit_candidate, live_coverage, regenerate
    from fac_engine.synthesis.scoring import Scorer
    from fac_engine.synthesis.templates import TASKS, TaskName
    from fac_engine.synthesis.twostep import MODES, SynthesisConfig

_PUBLIC = {
    "FluencyConfig": "fluency",
    "JobProgress": "curation",
    "JobSettings": "job",
    "MODES": "twostep",
    "Scorer": "scoring",
    "SynthesisConfig": "twostep",
    "SynthesisStore": "curation",
    "TASKS": "templates",
    "TaskName": "templates",
    "accept_above": "review",
    "accepted_frame": "export",
    "edit_candidate": "review",
    "job_log_tail": "job",
    "job_running": "job",
    "live_coverage": "review",
    "regenerate": "review",
    "start_job_process": "job",
    "stop_job": "job",
    "with_seed": "export",
    "write_export": "export",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "MODES",
    "TASKS",
    "FluencyConfig",
    "JobProgress",
    "JobSettings",
    "Scorer",
    "SynthesisConfig",
    "SynthesisStore",
    "TaskName",
    "accept_above",
    "accepted_frame",
    "edit_candidate",
    "job_log_tail",
    "job_running",
    "live_coverage",
    "regenerate",
    "start_job_process",
    "stop_job",
    "with_seed",
    "write_export",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
