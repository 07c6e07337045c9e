"""Every page of the app, declared once. app.py hands them to st.navigation; page links and switches
use the same objects, so a page's file, title and icon are written down in this one place."""

from pathlib import Path
from typing import NamedTuple

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parents[1] / "app_pages"
"""Absolute, so a page resolves the same whichever script Streamlit runs as the main one (tests run pages alone)."""


class AppPages(NamedTuple):
    """The app's pages in sidebar order."""

    home: st.Page
    coverage: st.Page
    explorer: st.Page
    feature_map: st.Page
    missing: st.Page
    synthesis: st.Page
    review: st.Page
    evaluation: st.Page
    cross_model: st.Page


def app_pages() -> AppPages:
    """The page objects (built per script run: st.Page needs a running script to resolve its file)."""
    return AppPages(
        st.Page(PAGES_DIR / "0_Home.py", title="Home", icon=":material/home:", default=True),
        st.Page(PAGES_DIR / "1_Coverage.py", title="Coverage", icon=":material/grid_on:"),
        st.Page(PAGES_DIR / "2_Feature_explorer.py", title="Feature explorer", icon=":material/search:"),
        st.Page(PAGES_DIR / "3_Feature_map.py", title="Feature map", icon=":material/scatter_plot:"),
        st.Page(PAGES_DIR / "4_Missing_features.py", title="Missing features", icon=":material/checklist:"),
        st.Page(PAGES_DIR / "5_Synthesis.py", title="Synthesis", icon=":material/auto_awesome:"),
        st.Page(PAGES_DIR / "6_Review.py", title="Review", icon=":material/fact_check:"),
        st.Page(PAGES_DIR / "7_Evaluation.py", title="Evaluation", icon=":material/monitoring:"),
        st.Page(PAGES_DIR / "8_Cross_model.py", title="Cross-model", icon=":material/compare_arrows:",
                url_path="Cross_model"),
    )
