"""Feature explorer: find a feature (by id, by its explanation, by a text it fires on) and see all about it.

Dataset text is untrusted: only `highlight_tokens` output (which escapes every token) is rendered as
HTML; every other sample text, label or explanation goes through `escape_markdown` or a table.
"""

import pandas as pd
import streamlit as st

from fac_app import feature_data as fd
from fac_app.markup import escape_markdown, token_html, visible_token
from fac_app.state import FEATURE_KEY, dataset_names, open_dataset, project, report, show_error, stats_frame, support
from fac_engine.errors import FacError
from fac_engine.features import FeatureExample, FeatureReport
from fac_engine.figures import activation_histogram
from fac_engine.workspace import RELEVANT, Project, ProjectConfig

DATASET = "explorer_dataset"
FEATURE_INPUT = "explorer_feature_id"
TOP = "explorer_top"
PROBE_TEXT, PROBE_FOR, PROBE_CHAT, PROBE_PICK = ("explorer_probe_text", "explorer_probe_for", "explorer_probe_chat",
                                                 "explorer_probe_feature")
SAVED = "explorer_saved"
MARKS = {"no mark": None, "Relevant": True, "Not relevant": False}
BROWSE_ROWS = 2_000  # most active features in the Browse tab (a 65,536-row table is slow to send)


def open_feature(feature: int) -> None:
    """Callback: show `feature` (the id box follows on the rerun)."""
    st.session_state[FEATURE_KEY] = int(feature)


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
    project().set_explanation(feature, text, source="user")
    st.session_state[SAVED] = (feature, "Explanation saved.")


def _save_mark(feature: int) -> None:
    project().mark_relevant(feature, MARKS[st.session_state[f"explorer_relevant_{feature}"]])


def finder(proj: Project, cfg: ProjectConfig, name: str) -> None:
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
        probe_section(cfg, proj)
    with browse:
        frame = stats_frame(name).head(BROWSE_ROWS)
        st.caption(f"The {len(frame):,} features active on the most samples of {name}; click a row to open it.")
        st.dataframe(frame, hide_index=True, height=260, key="explorer_browse", on_select=lambda: _from_browse(
            frame["feature"].tolist()), selection_mode="single-row",
            column_config={"frac_active": st.column_config.NumberColumn("share", format="percent")})


def probe_section(cfg: ProjectConfig, proj: Project) -> None:
    """Which features fire on a typed text, per token."""
    st.text_area("A text to run through the model and the SAE", key=PROBE_TEXT, height=90)
    st.toggle("Wrap it in the chat template, as datasets are encoded", value=True, key=PROBE_CHAT)
    if st.button("Find the features that fire", key="explorer_probe_go"):
        st.session_state[PROBE_FOR] = str(st.session_state.get(PROBE_TEXT, ""))
    text = st.session_state.get(PROBE_FOR, "")
    if not text.strip():
        return
    try:
        with st.spinner("Running the model..."):
            found = fd.probe(cfg, text, bool(st.session_state.get(PROBE_CHAT, True)))
    except FacError as exc:
        show_error(exc)
        return
    if found.features.size == 0:
        st.info("No feature fires on the content tokens of this text.")
        return
    texts = proj.explanations()
    table = pd.DataFrame({
        "feature": found.features, "max activation": found.max_values,
        "peak token": [visible_token(found.tokens[int(p)]) for p in found.peak],
        "active tokens": found.active_tokens, "explanation": [texts.get(int(f), "") for f in found.features]})
    st.caption(f"{len(table)} features fire on the content tokens (strongest first).")
    st.dataframe(table, hide_index=True, height=min(36 * (len(table) + 1), 300), key="explorer_probe_table",
                 column_config={"max activation": st.column_config.NumberColumn(format="%.3f")})
    pick = st.selectbox("Shade the tokens by", found.features.tolist(), key=PROBE_PICK,
                        format_func=lambda f: f"feature {f}")
    st.markdown(token_html(found.tokens, found.token_activations(pick), found.content_start, with_prefix=False,
                           scale=None), unsafe_allow_html=True)
    st.button(f"Open feature {pick}", key="explorer_probe_open", on_click=open_feature, args=(pick,))


def coverage_status(cfg: ProjectConfig, feature: int) -> str:
    """'covered', 'missing', 'not in anchor' or '-' (no anchor/seed set) for the project's anchor and seed."""
    if not (cfg.anchor and cfg.seed):
        return "-"
    try:
        in_anchor = bool(support(cfg.anchor, cfg.threshold).active[feature])
        in_seed = bool(support(cfg.seed, cfg.threshold).active[feature])
    except (FacError, IndexError):
        return "-"
    return ("covered" if in_seed else "missing") if in_anchor else "not in anchor"


def header(rep: FeatureReport, cfg: ProjectConfig, explanation: str | None) -> None:
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
                   help=f"Project anchor {cfg.anchor!r}, seed {cfg.seed!r}, delta {cfg.threshold:g}.")


def explanation_editor(proj: Project, feature: int, explanation: str | None) -> None:
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
    """A person's relevance mark (wins over label contrast and the LLM judge in `fac relevance --export-relevant`)."""
    mine = proj.relevance_marks("user").get(feature)
    others = [f"{name} {mark}" for name, source in (("label contrast:", "contrast"), ("LLM judge:", "judge"))
              if (mark := proj.relevance_marks(source).get(feature))]
    current = list(MARKS.values()).index(None if mine is None else mine == RELEVANT)
    st.radio("Relevant to the task", list(MARKS), index=current,
             horizontal=True, key=f"explorer_relevant_{feature}", on_change=_save_mark, args=(feature,),
             help="Your mark overrides label contrast and the LLM judge in the project's relevant set.")
    if others:
        st.caption(" · ".join(others))


def example(e: FeatureExample, scale: float, with_prefix: bool, n_active: int) -> None:
    where = f"top {e.rank + 1}" if e.kind == "top" else f"rank {e.rank + 1} of {n_active:,}"
    label = "" if e.label is None else f" · label **{escape_markdown(str(e.label))}**"
    st.markdown(f"{where} · sample {e.sample} · g = {e.value:.3f}{label}")
    st.markdown(token_html(e.tokens.tokens, e.tokens.activations, e.tokens.content_start, with_prefix=with_prefix,
                           scale=scale), unsafe_allow_html=True)
    with st.expander("Original text"):
        st.markdown(escape_markdown(e.text))


def examples(rep: FeatureReport, name: str) -> None:
    st.subheader(f"Samples of {name}")
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
    """Promoted / suppressed tokens and nearest features (loads the project's model and SAE)."""
    st.subheader("What the feature writes")
    st.caption("Its decoder direction read straight through the unembedding (W_dec[f] @ W_Uᵀ): the tokens whose "
               "logits it raises and lowers most, ignoring the layers after the SAE's. Nearest features: the "
               "highest cosine between decoder directions.")
    with_norm = st.toggle("Apply the final norm's weight first", value=True, key="explorer_with_norm")
    try:
        with st.spinner("Loading the model and the SAE..."):
            effects = fd.token_effects(cfg, feature, with_norm)
            near = fd.nearest(cfg, feature)
            if fd.sae_identity_of(cfg) != dataset_sae:
                st.warning("The project's SAE is not the one this dataset was encoded with: these views may "
                           "describe a different feature.")
    except FacError as exc:
        show_error(exc)
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


st.title("Feature explorer")
st.caption("One SAE feature at a time: how often and how strongly it fires, on which samples and tokens, "
           "what it writes into the model, which features resemble it, and what it means.")

try:
    proj = project()
    config = proj.config
except FacError as exc:
    show_error(exc)
    st.stop()
names = dataset_names()
if not names:
    st.info("No encoded dataset yet: encode one with `fac encode` (or from the home page) to explore its features.")
    st.stop()
if st.session_state.get(DATASET) not in names:
    st.session_state[DATASET] = config.anchor if config.anchor in names else names[0]

pick_data, pick_feature, pick_top = st.columns([3, 2, 1])
dataset = pick_data.selectbox("Dataset", names, key=DATASET, help="Defaults to the project's anchor.")
manifest = open_dataset(dataset).manifest
d_sae = manifest.d_sae
if FEATURE_KEY not in st.session_state:
    frame = stats_frame(dataset)
    st.session_state[FEATURE_KEY] = int(frame["feature"].iloc[0]) if len(frame) else 0
current = min(max(int(st.session_state[FEATURE_KEY]), 0), d_sae - 1)
st.session_state[FEATURE_KEY] = current
if st.session_state.get(FEATURE_INPUT) != current:
    st.session_state[FEATURE_INPUT] = current
pick_feature.number_input(f"Feature id (0 to {d_sae - 1:,})", min_value=0, max_value=d_sae - 1, step=1,
                          key=FEATURE_INPUT, on_change=_from_input)
top_n = pick_top.selectbox("Top samples", [5, 10, 20, 50], index=1, key=TOP)

with st.expander("Find a feature by its explanation, by a text it fires on, or among the most active",
                 expanded=False):
    finder(proj, config, dataset)

try:
    rep = report(dataset, current, top=int(top_n))
except FacError as exc:
    show_error(exc)
    st.stop()
explanation = proj.explanations().get(current)
header(rep, config, explanation)
left, right = st.columns([3, 2])
with left:
    if rep.n_active:
        st.plotly_chart(activation_histogram(rep.hist, rep.max, config.threshold), key="explorer_hist")
        st.caption(f"How strongly it fires on the {rep.n_active:,} samples of {dataset} where it fires at all "
                   "(g = max over content tokens, 20 equal bins).")
    else:
        st.info(f"Feature {current} never fires on {dataset}.")
with right:
    explanation_editor(proj, current, explanation)
    relevance_mark(proj, current)
writes = st.container()
if rep.n_active:
    examples(rep, dataset)
with writes:  # filled last: it may load the model, and everything above is already on screen
    decoder_views(config, proj, current, manifest.sae)
