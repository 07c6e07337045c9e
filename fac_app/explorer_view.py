"""The feature explorer's pieces: the dataset and feature pickers, three ways to find a feature, its
header and statistics, the explanation editor, the relevance mark, the shaded samples and what its
decoder direction writes.

Dataset text is untrusted: only `highlight_tokens` output (which escapes every token) is rendered as
HTML; every other sample text, label or explanation goes through fac_app/markup.py or a table.
"""

import pandas as pd
import streamlit as st

from fac_app import feature_data as fd
from fac_app import state
from fac_app.markup import escape_inline, escape_markdown, quoted, token_html, visible_token
from fac_app.probe_panel import text_probe
from fac_engine.errors import FacError
from fac_engine.features import FeatureExample, FeatureReport
from fac_engine.workspace import RELEVANT, MarkSource, Project, ProjectConfig

DATASET = "explorer_dataset"
FEATURE_INPUT = "explorer_feature_id"
TOP = "explorer_top"
SAVED = "explorer_saved"
MARKS = {"no mark": None, "Relevant": True, "Not relevant": False}
OTHER_MARKS: tuple[tuple[str, MarkSource], ...] = (("label contrast:", "contrast"), ("LLM judge:", "judge"))
"""Marks shown beside a person's own: label contrast and the LLM judge (`fac relevance`)."""
BROWSE_ROWS = 2_000
"""Most active features in the Browse tab (a 65,536-row table is slow to send)."""


def pickers(cfg: ProjectConfig, names: list[str]) -> tuple[str, int, int]:
    """The dataset (the project's anchor by default), the feature shown (kept in range) and how many top samples."""
    if st.session_state.get(DATASET) not in names:
        st.session_state[DATASET] = cfg.anchor if cfg.anchor in names else names[0]
    pick_data, pick_feature, pick_top = st.columns([3, 2, 1])
    dataset = str(pick_data.selectbox("Dataset", names, key=DATASET, help="Defaults to the project's anchor."))
    d_sae = state.open_dataset(dataset).manifest.d_sae
    shown = state.shown_feature()
    if shown is None:
        frame = state.stats_frame(dataset)
        shown = int(frame["feature"].iloc[0]) if len(frame) else 0
    current = min(max(shown, 0), d_sae - 1)
    state.remember_feature(current)
    if st.session_state.get(FEATURE_INPUT) != current:
        st.session_state[FEATURE_INPUT] = current
    pick_feature.number_input(f"Feature id (0 to {d_sae - 1:,})", min_value=0, max_value=d_sae - 1, step=1,
                              key=FEATURE_INPUT, on_change=_from_input)
    top_n = pick_top.selectbox("Top samples", [5, 10, 20, 50], index=1, key=TOP)
    return dataset, current, int(top_n)


def open_feature(feature: int) -> None:
    """Callback: show `feature` (the id box follows on the rerun)."""
    state.remember_feature(feature)


def _from_input() -> None:
    open_feature(st.session_state[FEATURE_INPUT])


def _from_browse(features: list[int]) -> None:
    rows = st.session_state["explorer_browse"].selection.rows
    if rows:
        open_feature(features[rows[0]])


def _save_explanation(feature: int) -> None:
    text = str(st.session_state.get(f"explorer_expl_{feature}", "")).strip()
    if not text:
        st.session_state[SAVED] = (feature, "An empty explanation was not saved.")
        return
    state.project().set_explanation(feature, text, source="user")
    st.session_state[SAVED] = (feature, "Explanation saved.")


def _save_mark(feature: int) -> None:
    state.project().mark_relevant(feature, MARKS[st.session_state[f"explorer_relevant_{feature}"]])


def finder(proj: Project, name: str) -> None:
    """Three ways to find a feature besides its id."""
    by_words, by_text, browse = st.tabs(["By explanation", "By text", "Browse the most active"])
    with by_words:
        words = st.text_input("Words in the explanation", key="explorer_search",
                              placeholder="e.g. insult  (every word must appear, case-insensitive)")
        if words.strip():
            hits = proj.search_explanations(words)
            if not hits:
                st.caption("No explanation contains all of these words.")
            else:
                texts = proj.explanations()
                st.dataframe(pd.DataFrame({"feature": hits[:200], "explanation": [texts[f] for f in hits[:200]]}),
                             hide_index=True, height=min(36 * (len(hits[:200]) + 1), 260))
                pick = st.selectbox(f"{len(hits)} matching features", hits[:200], key="explorer_search_pick")
                st.button("Open this feature", key="explorer_search_open", on_click=open_feature, args=(pick,))
    with by_text:
        text_probe(proj, key="explorer_probe")
    with browse:
        frame = state.stats_frame(name).head(BROWSE_ROWS)
        st.caption(f"The {len(frame):,} features active on the most samples of {escape_inline(name)}; click a row to "
                   "open it.")
        st.dataframe(frame, hide_index=True, height=260, key="explorer_browse", on_select=lambda: _from_browse(
            frame["feature"].tolist()), selection_mode="single-row",
            column_config={"frac_active": st.column_config.NumberColumn("share", format="percent")})


def coverage_status(cfg: ProjectConfig, feature: int) -> str:
    """'covered', 'missing', 'not in anchor' or '-' (no anchor/seed set) for the project's anchor and seed."""
    if not (cfg.anchor and cfg.seed):
        return "-"
    try:
        in_anchor = bool(state.support(cfg.anchor, cfg.threshold).active[feature])
        in_seed = bool(state.support(cfg.seed, cfg.threshold).active[feature])
    except (FacError, IndexError):
        return "-"
    return ("covered" if in_seed else "missing") if in_anchor else "not in anchor"


def header(rep: FeatureReport, cfg: ProjectConfig, explanation: str | None) -> None:
    """The feature's id, explanation and statistics in the dataset."""
    st.header(f"Feature {rep.feature}")
    if explanation:
        st.markdown(f"_{escape_markdown(explanation)}_")
    else:
        st.caption("No explanation yet: write one on the right.")
    cols = st.columns(5)
    cols[0].metric("Samples active", f"{rep.n_active:,}", help="Samples whose max activation g is above 0.")
    cols[1].metric("Share of samples", f"{rep.frac_active:.1%}")
    cols[2].metric("Max activation", f"{rep.max:.3f}")
    cols[3].metric("Mean when active", f"{rep.mean:.3f}", help="Mean of g over the samples where it is above 0.")
    cols[4].metric("Seed vs anchor", coverage_status(cfg, rep.feature),
                   help=f"Project anchor {quoted(cfg.anchor)}, seed {quoted(cfg.seed)}, delta {cfg.threshold:g}.")


def explanation_editor(proj: Project, feature: int, explanation: str | None) -> None:
    """Read and edit the feature's explanation (saved with the project, searchable in the finder)."""
    st.subheader("Explanation")
    source = proj.explanation_sources().get(feature)
    st.caption(f"Written by {escape_markdown(source)}." if source else "Say in a few words what it detects; "
               "saved explanations are searchable above and kept with the project.")
    st.text_area("What does this feature detect?", value=explanation or "", key=f"explorer_expl_{feature}",
                 height=110)
    st.button("Save explanation", key="explorer_save", on_click=_save_explanation, args=(feature,))
    saved = st.session_state.get(SAVED)
    if saved and saved[0] == feature:
        (st.success if saved[1].startswith("Explanation") else st.warning)(saved[1])


def relevance_mark(proj: Project, feature: int) -> None:
    """A person's relevance mark (wins over label contrast and the LLM judge in `fac relevance export-relevant`)."""
    mine = proj.relevance_marks("user").get(feature)
    others = [f"{name} {escape_inline(mark)}" for name, source in OTHER_MARKS
              if (mark := proj.relevance_marks(source).get(feature))]
    current = list(MARKS.values()).index(None if mine is None else mine == RELEVANT)
    st.radio("Relevant to the task", list(MARKS), index=current,
             horizontal=True, key=f"explorer_relevant_{feature}", on_change=_save_mark, args=(feature,),
             help="Your mark overrides label contrast and the LLM judge in the project's relevant set.")
    if others:
        st.caption(" · ".join(others))


def example(e: FeatureExample, scale: float, with_prefix: bool, n_active: int) -> None:
    """One sample: where it ranks, its tokens shaded by the feature, its original text."""
    where = f"top {e.rank + 1}" if e.kind == "top" else f"rank {e.rank + 1} of {n_active:,}"
    label = "" if e.label is None else f" · label **{escape_markdown(str(e.label))}**"
    st.markdown(f"{where} · sample {e.sample} · g = {e.value:.3f}{label}")
    st.markdown(token_html(e.tokens.tokens, e.tokens.activations, e.tokens.content_start, with_prefix=with_prefix,
                           scale=scale), unsafe_allow_html=True)
    with st.expander("Original text"):
        st.markdown(escape_markdown(e.text))


def examples(rep: FeatureReport, name: str) -> None:
    """The top-activating and the quantile samples of the feature in dataset `name`."""
    st.subheader(f"Samples of {escape_inline(name)}")
    st.caption("Each token is shaded by this feature's activation on it (darkest = the feature's max in this "
               "dataset); hover a token to read the value. Quantile samples show how it fires below its peak.")
    with_prefix = st.toggle("Show the chat-template prefix", value=False, key="explorer_prefix")
    top = [e for e in rep.examples if e.kind == "top"]
    quantile = [e for e in rep.examples if e.kind == "quantile"]
    tab_top, tab_q = st.tabs([f"Top activating ({len(top)})", f"Across quantiles ({len(quantile)})"])
    for tab, chosen in ((tab_top, top), (tab_q, quantile)):
        with tab:
            if not chosen:
                st.caption("None.")
            for e in chosen:
                example(e, rep.max, with_prefix, rep.n_active)


def decoder_views(cfg: ProjectConfig, proj: Project, feature: int, dataset_sae: str) -> None:
    """Promoted / suppressed tokens and nearest features (reads the model's unembedding and loads the SAE)."""
    st.subheader("What the feature writes")
    st.caption("Its decoder direction read straight through the unembedding (W_dec[f] @ W_Uᵀ): the tokens whose "
               "logits it raises and lowers most, ignoring the layers after the SAE's. Nearest features: the "
               "highest cosine between decoder directions.")
    with_norm = st.toggle("Apply the final norm's weight first", value=True, key="explorer_with_norm")
    try:
        with st.spinner("Reading the model's unembedding and loading the SAE..."):
            effects = fd.token_effects(cfg, feature, with_norm)
            near = fd.nearest(cfg, feature)
            if fd.sae_identity_of(cfg) != dataset_sae:
                st.warning("The project's SAE is not the one this dataset was encoded with: these views may "
                           "describe a different feature.")
    except FacError as exc:
        state.show_error(exc)
        return
    fmt = {"logit change": st.column_config.NumberColumn(format="%+.3f")}
    up, down, close = st.columns(3)
    up.markdown("**Promoted tokens**")
    up.dataframe(pd.DataFrame({"token": [visible_token(t) for t in effects.promoted],
                               "logit change": effects.effects.promoted_scores}), hide_index=True, column_config=fmt)
    down.markdown("**Suppressed tokens**")
    down.dataframe(pd.DataFrame({"token": [visible_token(t) for t in effects.suppressed],
                                 "logit change": effects.effects.suppressed_scores}), hide_index=True,
                   column_config=fmt)
    close.markdown("**Nearest features**")
    texts = proj.explanations()
    close.dataframe(pd.DataFrame({"feature": near.features, "cosine": near.cosine,
                                  "explanation": [texts.get(int(f), "") for f in near.features]}), hide_index=True,
                    column_config={"cosine": st.column_config.NumberColumn(format="%.3f")})
    if near.features.size:
        pick = close.selectbox("Neighbour", near.features.tolist(), key="explorer_near_pick",
                               label_visibility="collapsed", format_func=lambda f: f"feature {f}")
        close.button("Open this neighbour", key="explorer_near_open", on_click=open_feature, args=(pick,))
