"""Feature explorer: find a feature (by id, by its explanation, by a text it fires on) and see all about it."""

import streamlit as st

from fac_app import explorer_view as view
from fac_app import state
from fac_app.markup import escape_inline
from fac_engine.errors import FacError
from fac_engine.figures import activation_histogram

st.title("Feature explorer")
st.caption("One SAE feature at a time: how often and how strongly it fires, on which samples and tokens, "
           "what it writes into the model, which features resemble it, and what it means.")

try:
    proj = state.project()
    config = proj.config
except FacError as exc:
    state.show_error(exc)
    st.stop()
names = state.dataset_names()
if not names:
    st.info("No encoded dataset yet: encode one with `fac encode` (or from the home page) to explore its features.")
    st.stop()
dataset, current, top_n = view.pickers(config, names)
with st.expander("Find a feature by its explanation, by a text it fires on, or among the most active",
                 expanded=False):
    view.finder(proj, dataset)

try:
    rep = state.report(dataset, current, top=top_n)
except FacError as exc:
    state.show_error(exc)
    st.stop()
explanation = proj.explanations().get(current)
view.header(rep, config, explanation)
left, right = st.columns([3, 2])
with left:
    if rep.n_active:
        st.plotly_chart(activation_histogram(rep.hist, rep.max, config.threshold), key="explorer_hist")
        st.caption(f"How strongly it fires on the {rep.n_active:,} samples of {escape_inline(dataset)} where it fires "
                   "at all (g = max over content tokens, 20 equal bins).")
    else:
        st.info(f"Feature {current} never fires on {escape_inline(dataset)}.")
with right:
    view.explanation_editor(proj, current, explanation)
    view.relevance_mark(proj, current)
writes = st.container()
if rep.n_active:
    view.examples(rep, dataset)
with writes:  # filled last: it reads the model's unembedding and the SAE, and everything above is already on screen
    view.decoder_views(config, proj, current, state.open_dataset(dataset).manifest.sae)
