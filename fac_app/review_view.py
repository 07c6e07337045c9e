"""The review queue's pieces: the live FAC panel, one candidate's card, the decision buttons with
keyboard shortcuts (a / r / e / n), and the queue order. Decisions go straight to the project's
SQLite (SynthesisStore), so a reload, a restart or a second tab loses nothing."""

import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from fac_app import state
from fac_app.encode_panel import encode_options
from fac_app.markup import escape_inline, escape_markdown, highlight_tokens
from fac_engine.coverage import CoverageConfig
from fac_engine.encoding import EncodeConfig
from fac_engine.synthesis import (
    Candidate,
    ReviewStatus,
    SynthesisStore,
    accepted_frame,
    live_coverage,
    with_seed,
    write_export,
)
from fac_engine.workspace import check_name, start_encode_job

SHORTCUTS = {"a": "review_accept", "r": "review_reject", "e": "review_edit", "n": "review_next"}
"""Key -> the key of the button it presses (Streamlit reserves R for rerun, so the keys are bound here)."""
QUEUE_STATUSES: dict[str, tuple[ReviewStatus, ...]] = {
    "to review": ("pending", "edited"), "accepted": ("accepted",), "rejected": ("rejected",),
    "all": ("pending", "edited", "accepted", "rejected")}

_KEYS_JS = """
<script>
const doc = window.parent.document;
const win = window.parent;
const keys = %s;
if (win.__facReviewKeys) { win.removeEventListener("keydown", win.__facReviewKeys, true); }
win.__facReviewKeys = (event) => {
  const el = event.target;
  const typing = el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.isContentEditable);
  if (typing || event.ctrlKey || event.metaKey || event.altKey) { return; }
  const key = keys[event.key.toLowerCase()];
  if (!key) { return; }
  const button = doc.querySelector(".st-key-" + key + " button");
  if (!button || button.disabled) { return; }
  event.preventDefault();
  event.stopImmediatePropagation();
  button.click();
};
win.addEventListener("keydown", win.__facReviewKeys, true);
</script>
"""


def keyboard_shortcuts() -> None:
    """Bind a / r / e / n to the decision buttons (ignored while typing in a field)."""
    components.html(_KEYS_JS % json.dumps(SHORTCUTS), height=0)


def live_panel(store: SynthesisStore, anchor: str, seed: str, threshold: float) -> None:
    """FAC of the seed and of seed + accepted samples against the anchor, recomputed on every decision."""
    live = live_coverage(store, state.pooled_arrays(seed), state.support(anchor, threshold),
                         CoverageConfig(threshold=threshold, relevant=state.relevant_set()))
    c = st.columns(4)
    c[0].metric("FAC of the seed", f"{live.before.fac:.2%}", help=f"δ = {threshold:g}, against {escape_inline(anchor)}")
    c[1].metric("FAC of seed + accepted", f"{live.after.fac:.2%}",
                delta=f"{(live.after.fac - live.before.fac) * 100:+.2f} pts")
    c[2].metric("Missing features covered", len(live.before.missing) - len(live.after.missing))
    c[3].metric("Accepted samples", live.accepted)


def queue(store: SynthesisStore, job: int | None, statuses: tuple[ReviewStatus, ...], min_g: float
          ) -> list[Candidate]:
    """Proposed candidates in review order (best g first within each feature), filtered."""
    return [c for c in store.candidates(job, status=statuses) if c.g > min_g]


def queue_table(store: SynthesisStore, cands: list[Candidate]) -> pd.DataFrame:
    """The queue as a table: id, feature, g, label, status, edited, near duplicate, mode, fluency flag, whether
    step 2's x+ was the anchor's top sample (no step-1 candidate activated the feature), text."""
    fallbacks = {(job, f) for job in {c.job_id for c in cands} for f in store.anchor_fallbacks(job)}
    columns = ["cand_id", "feature", "g", "label", "status", "edited", "duplicate_of", "mode", "flagged",
               "x+ from anchor", "text"]
    return pd.DataFrame([[c.cand_id, c.feature, c.g, c.label, c.status, c.edited, c.duplicate_of, c.provenance.mode,
                          c.provenance.flagged, (c.job_id, c.feature) in fallbacks, c.text]
                         for c in cands], columns=columns)



def candidate_card(cand: Candidate, explanation: str, pair: dict[str, Any] | None) -> None:
    """The candidate with its target feature's activation per token, g vs δ, warnings and provenance."""
    g, delta = cand.g, cand.threshold
    c = st.columns([2, 1, 1, 1])
    c[0].markdown(f"**Feature {cand.feature}** · {escape_markdown(explanation) or '*no explanation*'}")
    c[1].metric("g (target activation)", f"{g:.2f}", delta=f"{g - delta:+.2f} vs δ={delta:g}")
    c[2].metric("Label", escape_inline(cand.label or "–"))
    edited = " (edited)" if cand.edited and cand.status != "edited" else ""
    c[3].metric("Status", f"{escape_inline(cand.status)}{edited}")
    if cand.duplicate_of:
        st.warning(f"Near duplicate of {escape_inline(cand.duplicate_of)} (word 3-gram Jaccard "
                   f"{float(cand.duplicate_similarity or 0.0):.2f}).")
    if g <= delta:
        st.warning(f"After the edit, the target feature is no longer active above δ (g = {g:.2f}).")
    made = cand.provenance
    if made.flagged:
        st.warning("The fluency guard flags this candidate as possible gibberish (perplexity "
                   f"{made.perplexity or 0.0:.0f}, repeated 3-grams {made.repetition or 0.0:.0%}).")
    if made.kind != "sample":
        st.warning("This text reads as " + ("a refusal" if made.kind == "refusal" else "meta-text about the task")
                   + " rather than a sample: the generator stepped out of its role.")
    st.markdown(highlight_tokens(cand.tokens, cand.activations), unsafe_allow_html=True)
    st.caption(f"Activated span: {escape_markdown(cand.span or '–')}")
    st.caption(f"How it was made: {made.describe()}")
    if pair:
        with st.expander("Contrastive pair used in step 2"):
            for key, title in (("x_plus", "x+ (good)"), ("x_minus", "x- (bad)")):
                demo = pair.get(key) or {}
                origin = " · the anchor's top sample (no step-1 candidate activated the feature)" \
                    if demo.get("source") == "anchor" else ""
                st.markdown(f"**{title}**, g = {float(demo.get('g', 0.0)):.2f}{origin}")
                st.text(str(demo.get("text", "")))
    with st.expander("Provenance"):
        st.json({"candidate": cand.cand_id, "job": cand.job_id, "step": cand.step, "generator": cand.generator,
                 "made": asdict(made), "sampling": cand.params, "created": cand.created_at,
                 "last change": f"{cand.updated_at} by {cand.updated_by}", "original text": cand.original_text})
        st.text(cand.prompt)




EXPORTS_DIR = ".exports"
"""Exported files the dashboard encodes are kept in `<workspace>/.exports/`."""


def export_panel(store: SynthesisStore, seed: str) -> None:
    """Download the accepted samples (JSONL / CSV / parquet, optionally after the seed), or encode them
    into the workspace as a new dataset (in the background, like any encode job)."""
    frame = accepted_frame(store)
    if frame.empty:
        st.caption("Accept candidates to export them.")
        return
    c1, c2, c3 = st.columns([1, 1, 2])
    fmt = c1.selectbox("Format", ["jsonl", "csv", "parquet"], key="review_export_fmt")
    merge = c2.checkbox(f"Put the seed ({escape_inline(seed)}) first", key="review_export_merge")
    if merge:
        frame = with_seed(frame, state.open_dataset(seed))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"accepted.{fmt}"
        write_export(frame, path)
        data = path.read_bytes()
    c3.download_button(f"Download {len(frame):,} rows", data, file_name=f"{store.project.name}-accepted.{fmt}",
                       key="review_download")
    n1, n2 = st.columns([2, 1])
    name = n1.text_input("Encode as dataset", value=f"{store.project.name}-accepted", key="review_encode_name")
    if n2.button("Encode into the workspace", key="review_encode"):
        root = state.workspace_root()
        target = root / EXPORTS_DIR / f"{check_name(name)}.jsonl"
        write_export(frame, target)
        options = encode_options(store.project.config, text_field="", label_field="label", schema="auto", limit=0,
                                 chat=True, max_length=EncodeConfig.max_length, overwrite=True)
        start_encode_job(root, target, name, options)
        st.toast(f"Encoding {escape_inline(name)} in the background; compare it on the Coverage page when it is done.")
