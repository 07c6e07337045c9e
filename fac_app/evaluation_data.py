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


@st.cache_data(show_spinner=False, max_entries=32)
def _evaluation(root: str, name: str, mtime: float) -> EvalResult:
    del mtime  # cache key: a rerun of `fac evaluate` under the same name rewrites the file
    return load_evaluation(Path(root), name)


def evaluation(name: str) -> EvalResult:
    """A saved evaluation of the session's workspace (re-read when its file changes; FacError when unreadable)."""
    root = state.workspace_root()
    path = evaluation_path(root, name)
    return _evaluation(str(root), name, path.stat().st_mtime if path.is_file() else 0.0)


def report_html(project: str, evaluation_name: str | None) -> str:
    """The project's HTML report with this evaluation (built on demand: it reads every dataset involved)."""
    return build_report(state.workspace_root(), project, evaluation_name).html


@st.cache_data(show_spinner=False, max_entries=32)
def _calibration(root: str, name: str, mtime: float) -> CalibrationResult:
    del mtime  # cache key: a rerun of `fac calibrate` under the same name rewrites the file
    return load_calibration(Path(root), name)


def calibration(name: str) -> CalibrationResult:
    """A saved calibration of the session's workspace (re-read when its file changes; FacError when unreadable)."""
    root = state.workspace_root()
    path = calibration_path(root, name)
    return _calibration(str(root), name, path.stat().st_mtime if path.is_file() else 0.0)
