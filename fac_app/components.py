"""Small UI pieces shared by several pages: page links, opening a feature in the explorer, the
threshold slider bound to the project, the relevance toggle and the empty states."""

import math

import streamlit as st

from fac_app import state
from fac_app.markup import escape_inline, quoted
from fac_app.navigation import app_pages
from fac_engine.errors import FacError
from fac_engine.workspace import Project

STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
"""Slider steps to choose from: the smallest giving at most about 200 positions."""
DELTA_HELP = ("δ: a feature counts as active on a sample when its max activation over the sample's content tokens "
              "is strictly above δ. The paper sweeps 0 to 4; 0 is the default.")


def page_link(page: st.Page, label: str, icon: str | None = None) -> None:
    """A link to one of the app's pages (app_pages())."""
    st.page_link(page, label=label, icon=icon)


def explorer_url(feature: int, project: str) -> str:
    """A link that opens the explorer on a feature of a project in a new session (see frame.open_deep_link)."""
    return f"./?feature={int(feature)}&project={project}"


def open_in_explorer(feature: int) -> None:
    """Switch to the explorer showing `feature`."""
    state.go_to_feature(feature)


def explorer_picker(features: list[int], key: str, label: str = "Open a feature in the explorer") -> None:
    """A feature id input with a button (the fallback for clicking a chart)."""
    if not features:
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.number_input(label, min_value=0, value=int(features[0]), step=1, key=f"{key}_id",
                               help="Any feature id; the list above shows the ones in view.")
    if right.button("Open in explorer", key=f"{key}_go", icon=":material/open_in_new:"):
        open_in_explorer(int(chosen))


def _step(top: float) -> float:
    return next((s for s in STEPS if top / s <= 200), STEPS[-1])


def threshold_slider(top: float) -> float:
    """The project's delta as a sidebar slider over [0, top]; moving it saves the project setting.

    Every page using it shows the same value, and FAC, the heatmap and the missing features
    follow it.
    """
    proj = state.project()
    saved = float(proj.config.threshold)
    step = _step(max(top, 0.1))
    top = max(math.ceil(max(top, saved, 0.1) / step) * step, step)
    key = f"fac_delta::{proj.name}"
    if key not in st.session_state:
        st.session_state[key] = min(saved, top)

    def save() -> None:
        try:
            state.project().update(threshold=float(st.session_state[key]))
        except FacError as exc:
            st.session_state["fac_delta_error"] = str(exc)

    value = st.sidebar.slider("Activation threshold δ", min_value=0.0, max_value=float(top), step=step, key=key,
                              on_change=save, help=DELTA_HELP)
    if "fac_delta_error" in st.session_state:
        st.sidebar.error(escape_inline(st.session_state.pop("fac_delta_error")))
    relevance_toggle(proj)
    return float(value)


def relevance_toggle(proj: Project) -> None:
    """Count only the project's task-relevant features F (label contrast, LLM judge, your marks), when it has any."""
    n = len(proj.relevant_features())
    if not n:
        return
    key = f"fac_relevant_only::{proj.name}"
    if key not in st.session_state:
        st.session_state[key] = proj.config.relevant_only

    def save() -> None:
        state.project().update(relevant_only=bool(st.session_state[key]))

    st.sidebar.toggle(f"Only task-relevant features ({n:,})", key=key, on_change=save,
                      help="FAC, the heatmap's counts and the missing features use only the features marked "
                           "relevant in this project (`fac relevance`, the explorer's marks).")


def need_anchor_and_seed(need_seed: bool = True) -> tuple[str, str | None]:
    """The project's anchor and seed; when a needed one is unset or gone, an explanation and st.stop()."""
    names = state.dataset_names()
    cfg = state.project().config
    anchor, seed = cfg.anchor, cfg.seed
    if not names:
        st.info("No encoded datasets yet. On the **Home** page, upload a dataset (JSONL, CSV or Parquet with a "
                "text column) or give its path and press **Start encoding**. Encode a sample of the data you care "
                "about as the anchor and your training data as the seed.")
    elif anchor is None or anchor not in names or (need_seed and (seed is None or seed not in names)):
        role = "anchor" if anchor is None or anchor not in names else "seed"
        st.info(f"The project {quoted(cfg.name)} has no {role} dataset yet. On the **Home** page, pick the anchor (a "
                "sample of the target distribution) and the seed (the data whose coverage you measure).")
    else:
        return anchor, seed
    page_link(app_pages().home, "Go to the home page", icon=":material/home:")
    st.stop()
