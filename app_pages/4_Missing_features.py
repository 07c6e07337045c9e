"""Missing features: what the anchor activates and the seed never does. Filter, select, and save named
feature lists in the project; the project's target list is what synthesis will cover."""

import hashlib

import streamlit as st

from fac_app import coverage_data as data
from fac_app import missing_view as view
from fac_app import state
from fac_app.components import explorer_picker, need_anchor_and_seed, page_link, threshold_slider
from fac_app.markup import escape_inline
from fac_app.navigation import app_pages
from fac_engine.coverage import filter_missing
from fac_engine.errors import FacError

st.title("Missing features")


def main() -> None:
    anchor, seed = need_anchor_and_seed()
    assert seed is not None
    proj = state.project()
    try:
        delta = threshold_slider(float(state.support(anchor, 0.0).max.max(initial=0.0)))
        frame = data.missing_table(anchor, seed, delta)
    except FacError as exc:
        state.show_error(exc)
        st.stop()
    st.caption(f"Features the anchor **{escape_inline(anchor)}** activates (on at least one sample, g > δ = "
               f"{delta:g}) that no sample of the seed **{escape_inline(seed)}** activates: {len(frame):,} of "
               f"{int(state.support(anchor, delta).active.sum()):,} anchor features.")
    if frame.empty:
        st.success("The seed activates every feature the anchor does at this threshold: nothing is missing.")
    else:
        flt, sort, descending = view.filter_controls(frame)
        shown = filter_missing(frame, flt).sort_values([sort, "feature"], ascending=[not descending, True],
                                                       kind="stable")
        view.selection_buttons(shown, len(frame))
        signature = hashlib.sha1(repr((anchor, seed, delta, flt, sort, descending)).encode()).hexdigest()[:12]
        view.features_table(shown, proj, signature)
        view.selection_box(frame)
        explorer_picker([int(f) for f in shown["feature"]], key="missing_open")
    try:
        view.lists_panel(proj, view.selection())
    except FacError as exc:
        state.show_error(exc)
    page_link(app_pages().coverage, "Back to the coverage heatmap", icon=":material/grid_on:")


main()
