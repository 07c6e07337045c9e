"""Synthesis: generate samples for the features of the project's target list (two-step FAC Synthesis),
in the background, with live progress. Candidates go to the Review page."""

import streamlit as st

from fac_app import state
from fac_app import synthesis_form as form
from fac_app.components import need_anchor_and_seed, page_link
from fac_app.markup import escape_inline, quoted
from fac_app.navigation import app_pages
from fac_app.synthesis_resources import store as synthesis_store
from fac_engine.errors import FacError

st.title("Synthesis")
st.caption("For each target feature: step 1 samples candidates from its explanation and anchor phrases and scores "
           "them by re-encoding through the LM + SAE (g); the best and worst form a contrastive pair; step 2 "
           "samples again from the pair and keeps candidates with g > δ for your review.")

need_anchor_and_seed()
proj = state.project()
store = synthesis_store()
explanations = proj.explanations()
target = proj.config.target_list
features = proj.features_in(target)

st.subheader(f"Target list: {escape_inline(target)} ({len(features)} features)")
if features:
    st.dataframe({"feature": features, "explanation": [explanations.get(f, "") for f in features]},
                 hide_index=True, width="stretch", height=min(35 * (len(features) + 1) + 3, 250))
else:
    st.info("The target list is empty. Pick missing features on the Missing features page (they are saved to "
            f"the list {quoted(target)}).")
    page_link(app_pages().missing, "Pick missing features", icon=":material/checklist:")

try:
    settings = form.settings_form(proj)
    if settings is not None:
        if not features:
            raise FacError("Nothing to synthesise for: the target list is empty.")
        job_id = form.start(proj, settings, features)
        st.toast(f"Started synthesis job {job_id}.")
except FacError as exc:
    state.show_error(exc)

jobs = store.job_ids()
if jobs:
    st.subheader("Jobs")
    job_id = st.selectbox("Job", jobs, key="syn_job", format_func=lambda j: f"Job {j}")
    running = job_id is not None and form.is_running(store, job_id)

    @st.fragment(run_every=2.0 if running else None)
    def live() -> None:
        """Refreshes itself while the job runs."""
        if job_id is None:
            return
        form.progress_panel(store, job_id)
        st.dataframe(form.feature_table(store, job_id, explanations), hide_index=True, width="stretch")

    live()
    page_link(app_pages().review, "Review the candidates", icon=":material/fact_check:")
