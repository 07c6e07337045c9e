"""Review: accept, reject, edit (re-scored) or regenerate synthetic candidates one by one, with keyboard
shortcuts, bulk accept above a score, and the live FAC of seed + accepted samples."""

import streamlit as st

from fac_app import review_view as view
from fac_app import state
from fac_app.components import need_anchor_and_seed, page_link
from fac_app.navigation import app_pages
from fac_app.synthesis_resources import generator, scorer
from fac_app.synthesis_resources import store as synthesis_store
from fac_engine.errors import FacError
from fac_engine.synthesis import JobSettings, ReviewStatus, accept_above, edit_candidate, regenerate

POS_KEY = "review_pos"
EDIT_KEY = "review_editing"

st.title("Review")
anchor, seed = need_anchor_and_seed()
assert seed is not None
proj = state.project()
store = synthesis_store()
view.live_panel(store, anchor, seed, proj.config.threshold)

jobs = store.job_ids()
if not jobs:
    st.info("No synthesis job yet: start one on the Synthesis page.")
    page_link(app_pages().synthesis, "Go to Synthesis", icon=":material/science:")
    st.stop()
f1, f2, f3 = st.columns(3)
job = f1.selectbox("Job", [None, *jobs], format_func=lambda j: "all jobs" if j is None else f"job {j}",
                   key="review_job")
shown = f2.selectbox("Show", list(view.QUEUE_STATUSES), key="review_status")
min_g = f3.number_input("Only g above", value=0.0, step=0.5, key="review_min_g")
cands = view.queue(store, job, view.QUEUE_STATUSES[shown], float(min_g))

with st.expander("Bulk accept"):
    b1, b2 = st.columns([1, 2])
    bulk_g = b1.number_input("Accept every candidate to review with g above", value=float(proj.config.threshold),
                             step=0.5, key="review_bulk_g")
    if b2.button("Accept all above this score", key="review_bulk"):
        accepted = accept_above(store, job, float(bulk_g))
        st.toast(f"Accepted {len(accepted)} candidates.")
        st.rerun()

with st.expander("Export accepted samples"):
    try:
        view.export_panel(store, seed)
    except FacError as exc:
        state.show_error(exc)

if not cands:
    st.success("Nothing left in this view." if shown == "to review" else "No candidates in this view.")
    st.stop()
pos = min(int(st.session_state.get(POS_KEY, 0)), len(cands) - 1)
cand = cands[pos]
cand_id = cand.cand_id
settings = JobSettings.from_json_dict(store.job_config(cand.job_id))
st.markdown(f"**Candidate {pos + 1} of {len(cands)}** (#{cand_id}) · keys: **a** accept · **r** reject · "
            "**e** edit · **n** next")
view.candidate_card(cand, proj.explanations().get(cand.feature, ""),
                    store.pairs(cand.job_id).get(cand.feature))


def decide(status: ReviewStatus) -> None:
    """Record the decision and move on (a decided candidate leaves the 'to review' view by itself)."""
    store.decide([cand_id], status)
    if shown != "to review":
        st.session_state[POS_KEY] = pos + 1
    st.session_state.pop(EDIT_KEY, None)


c = st.columns(6)
if c[0].button("Accept (a)", key="review_accept", type="primary"):
    decide("accepted")
    st.rerun()
if c[1].button("Reject (r)", key="review_reject"):
    decide("rejected")
    st.rerun()
if c[2].button("Edit (e)", key="review_edit"):
    st.session_state[EDIT_KEY] = cand_id
    st.rerun()
if c[3].button("Next (n)", key="review_next"):
    st.session_state[POS_KEY] = (pos + 1) % len(cands)
    st.rerun()
if c[4].button("Previous", key="review_prev"):
    st.session_state[POS_KEY] = (pos - 1) % len(cands)
    st.rerun()
try:
    if c[5].button("Regenerate", key="review_regen", help="Sample again from this feature's step-2 prompt; the "
                   "best new candidate above δ replaces this one."):
        with st.spinner("Generating and scoring..."):
            new = regenerate(store, cand_id, generator(settings), scorer(settings), settings.synthesis)
        st.toast("Nothing new activated the feature; the candidate is unchanged." if new is None
                 else f"Replaced by candidate #{new}.")
        st.rerun()
    if st.session_state.get(EDIT_KEY) == cand_id:
        with st.form("review_edit_form"):
            text = st.text_area("Edit the sample (keep its format)", value=cand.text, height=150,
                                key=f"review_text_{cand_id}")
            if st.form_submit_button("Save and re-score", type="primary"):
                with st.spinner("Re-encoding through the LM + SAE..."):
                    g = edit_candidate(store, scorer(settings), cand_id, text)
                st.session_state.pop(EDIT_KEY, None)
                st.toast(f"Saved; g is now {g:.2f}.")
                st.rerun()
except FacError as exc:
    state.show_error(exc)

view.keyboard_shortcuts()
st.subheader("All candidates in this view")
st.dataframe(view.queue_table(store, cands), hide_index=True, width="stretch")
