"""Home: datasets and their roles, background encoding, the headline FAC, the demo tour and a text probe."""

import streamlit as st

from fac_app import encode_panel, home, state
from fac_app.components import threshold_slider
from fac_app.demo_tour import demo_tour, is_demo
from fac_app.probe_panel import probe_panel
from fac_engine.errors import FacError

st.title("FAC Studio")
st.caption("What is your training data missing? Feature Activation Coverage in a language model's SAE feature space.")

proj = state.project()
encode_panel.announce_finished()
names = state.dataset_names()
cfg = proj.config

try:
    st.subheader("Coverage of the seed")
    if not names:
        st.info("**No encoded datasets yet.** Below, under *Encode a dataset*: upload a JSONL, CSV or Parquet file "
                "with a text column (or give its path), name it and press **Start encoding**. Encode two sets: an "
                "**anchor** (a sample of the data you care about, e.g. labelled toxic/safe queries) and a **seed** "
                "(the training data whose coverage you want to measure). From a terminal: "
                "`fac encode anchor.jsonl --name anchor --label-field label`.")
    elif cfg.anchor in names and cfg.seed in names:
        delta = threshold_slider(float(state.support(cfg.anchor, 0.0).max.max(initial=0.0)))
        home.headline(cfg.anchor, cfg.seed, delta)
        if is_demo(proj):
            demo_tour(proj, delta)
    else:
        st.info("Pick the **anchor** (a sample of the target distribution) and the **seed** (the data whose "
                "coverage you measure) under *Datasets* below to see FAC.")
    home.pipeline(proj, names)
except FacError as exc:
    state.show_error(exc)

st.subheader("Datasets")
if names:
    left, right = st.columns(2)
    with left:
        home.role_select(proj, "anchor", "Anchor", names, "The target distribution: the features it activates are "
                         "the ones to cover.")
    with right:
        home.role_select(proj, "seed", "Seed", names, "The dataset whose coverage of the anchor is measured.")
    st.dataframe(home.datasets_table(names, proj.config), hide_index=True, width="stretch", column_config={
        "samples": st.column_config.NumberColumn(format="localized"),
        "tokens": st.column_config.NumberColumn(format="localized"),
        "features": st.column_config.NumberColumn("SAE features", format="localized"),
        "comparable": st.column_config.CheckboxColumn("same model/SAE as anchor"),
    })
encode_panel.jobs_panel()

with st.expander("Encode a dataset", expanded=not names, icon=":material/upload_file:"):
    encode_panel.encode_form(proj)
with st.expander("Model and SAE", icon=":material/memory:"):
    home.model_settings(proj)
with st.expander("Probe a text: which features fire?", icon=":material/science:"):
    probe_panel()
