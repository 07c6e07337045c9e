"""Cached reads of saved evaluations and calibrations, and the report build, for the Evaluation page."""

from pathlib import Path

import streamlit as st

from fac_app import state
from fac_engine.evaluation import (
    CalibrationResult,
    EvalResult,
    calibration_path,
    evaluation_path,
    load_calibration,
    load_evaluation,
)
from fac_engine.report import build_report

REPORT_KEY = "eval_report"
"""(project, evaluation, html) of the last report written in this session."""


@st.cache_data(show_spinner=False, max_entries=32)
def _saved(kind: str, root: str, name: str, mtime: float) -> EvalResult | CalibrationResult:
    del mtime  # cache key: a rerun of `fac evaluate` / `fac calibrate` under the same name rewrites the file
    return (load_evaluation if kind == "evaluation" else load_calibration)(Path(root), name)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.is_file() else 0.0


def evaluation(name: str) -> EvalResult:
    """A saved evaluation of the session's workspace (re-read when its file changes; FacError when unreadable)."""
    root = state.workspace_root()
    result = _saved("evaluation", str(root), name, _mtime(evaluation_path(root, name)))
    assert isinstance(result, EvalResult)
    return result


def write_report(project: str, evaluation_name: str | None) -> None:
    """Build the project's HTML report with this evaluation and keep it for this session (it reads every dataset
    involved, so it is built on demand)."""
    html = build_report(state.workspace_root(), project, evaluation_name).html
    st.session_state[REPORT_KEY] = (project, evaluation_name, html)


def written_report(project: str, evaluation_name: str | None) -> str | None:
    """The HTML report this session last wrote for this project and evaluation, if any."""
    built = st.session_state.get(REPORT_KEY)
    return str(built[2]) if built is not None and built[:2] == (project, evaluation_name) else None


def calibration(name: str) -> CalibrationResult:
    """A saved calibration of the session's workspace (re-read when its file changes; FacError when unreadable)."""
    root = state.workspace_root()
    result = _saved("calibration", str(root), name, _mtime(calibration_path(root, name)))
    assert isinstance(result, CalibrationResult)
    return result
