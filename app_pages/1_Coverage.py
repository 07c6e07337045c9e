"""Coverage: FAC of every dataset against the anchor, the feature x slice heatmap, activation-frequency
histograms and the text-diversity baselines next to FAC."""

import pandas as pd
import streamlit as st

from fac_app import coverage_data as data
from fac_app import state
from fac_app.columns import column_config
from fac_app.components import explorer_picker, need_anchor_and_seed, open_in_explorer, page_link, threshold_slider
from fac_app.markup import escape_inline, quoted
from fac_app.navigation import app_pages
from fac_engine.errors import FacError
from fac_engine.figures import coverage_heatmap, fac_bars, frequency_histogram

# (No attribute docstrings in pages: Streamlit's magic would print them.)
DIVERSITY_AUTO_SAMPLES = 20_000  # below this many samples in all, diversity is computed without asking
MAX_SHOWN = 5_000  # most heatmap columns (a screen is about 1,500 pixels wide)

st.title("Coverage")
st.caption("Which of the anchor's SAE features each dataset activates, at the threshold δ in the sidebar.")


def fac_section(anchor: str, compared: list[str], delta: float) -> None:
    """FAC per dataset as bars, and a table with the text-diversity baselines beside FAC."""
    st.subheader("FAC of each dataset against the anchor")
    if not compared:
        st.info(f"Only the anchor {quoted(anchor)} is encoded with this model and SAE. Encode more datasets on the "
                "home page to compare their coverage.")
        return
    frame = data.fac_frame(anchor, compared, delta)
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(fac_bars(frame), key="fac_bars")
    with right:
        st.caption("FAC: share of the anchor's features that a dataset also activates. FAC_freq weights each "
                   "feature by how often it fires in the anchor, FAC_magnitude by its mean activation there.")
        total = sum(m.n_samples for n, m in data.manifests().items() if n in [anchor, *compared])
        on = st.toggle("Text-diversity baselines", value=total <= DIVERSITY_AUTO_SAMPLES, key="cov_diversity",
                       help="Distinct-n and n-gram entropy over whitespace tokens; computed once per dataset.")
        embed = on and st.toggle("Include the embedding distance (loads all-MiniLM-L6-v2; slow)", value=False,
                                 key="cov_embed")
    anchor_row = {"dataset": anchor, "fac": 1.0, "fac_freq": 1.0, "fac_magnitude": 1.0,
                  "samples": int(state.support(anchor, delta).n_samples)}
    table = pd.concat([pd.DataFrame([anchor_row]), frame[list(anchor_row)]], ignore_index=True)
    if on:
        with st.spinner("Computing text diversity..."):
            rows = [data.diversity(name, embed).to_json_dict() for name in table["dataset"]]
        extra = pd.DataFrame(rows).drop(columns=["n_texts", "n_tokens"])
        table = pd.concat([table, extra if embed else extra.drop(columns=["mean_cosine_distance"])], axis=1)
    st.dataframe(table, hide_index=True, width="stretch", column_config=column_config(table.columns))
    st.caption("The paper finds that FAC tracks downstream quality (Pearson r = 0.95 on toxicity detection) "
               "while text-diversity metrics do not (distinct-1 r = -0.58, n-gram entropy 0.57). The anchor row is "
               "the reference: its FAC against itself is 100 % by definition.")


def heatmap_section(anchor: str, seed: str | None, same: list[str], delta: float) -> None:
    """The feature x slice heatmap with its controls, and the frequency histograms of the rows."""
    st.subheader("Coverage heatmap")
    default_rows = [anchor] + ([seed] if seed in same and seed != anchor else [])
    c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
    rows = c1.multiselect("Rows (datasets)", same, default=default_rows, key=f"cov_rows::{anchor}")
    if not rows:
        st.info("Pick at least one dataset for the rows.")
        return
    labelled = [n for n in rows if 1 <= data.label_count(n) <= data.MAX_LABEL_SLICES]
    split = c2.multiselect("Split by label", labelled, default=[anchor] if anchor in labelled else [],
                           key=f"cov_split::{anchor}::{'|'.join(labelled)}",
                           help="One row per label value of these datasets (e.g. anchor · toxic, anchor · safe).")
    relevant = state.relevant_set()
    active = data.anchor_active(anchor, delta, relevant)
    if active == 0:
        which = "task-relevant feature" if relevant is not None else "feature"
        st.warning(f"No anchor sample activates any {which} above δ = {delta:g}; lower the threshold.")
        return
    top_n = int(c3.number_input("Features shown", min_value=1, max_value=min(active, MAX_SHOWN),
                                value=min(300, active, MAX_SHOWN), step=50, key="cov_top_n",
                                help="The anchor's most frequently active features at δ (only task-relevant "
                                     "ones while the sidebar's toggle is on)."))
    grouping = c4.radio("Group features by", ["frequency", "clusters"], key="cov_grouping", horizontal=True,
                        format_func=lambda g: {"frequency": "activation frequency",
                                               "clusters": "decoder direction"}[g])
    d1, d2 = st.columns([3, 7], vertical_alignment="center")
    log_scale = d1.toggle("Log colour scale", value=False, key="cov_log",
                          help="Shows rare activations (0.01 % to 100 % in decades); blank cells are 0.")
    k = d2.slider("Clusters (k-means on decoder directions)", 2, 30, 12, key="cov_k") if grouping == "clusters" \
        else 0
    with st.spinner("Preparing the heatmap..."):
        shown = data.shown_features(anchor, delta, top_n, grouping, k)
        slices = data.heatmap_slices(rows, set(split), delta)
    order = ("frequency bands (most frequent first)" if grouping == "frequency"
             else f"{len(shown.groups.names)} k-means clusters of the normalised SAE decoder rows, largest first")
    what = "all" if top_n >= shown.anchor_active else f"the {top_n:,} most frequent of the"
    kind = "task-relevant features" if relevant is not None else "features"
    st.caption(f"Columns: {what} {shown.anchor_active:,} {kind} the anchor activates at δ = {delta:g}, grouped "
               f"by {order}. Colour: share of the row's samples on which the feature is active. Hover for "
               "counts and explanations; click a cell to open its feature in the explorer.")
    fig = coverage_heatmap(slices, shown.groups, state.project().explanations(), log_scale=log_scale)
    event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="cov_heatmap")
    points = event.selection.points if event is not None else []
    if points and points[0].get("customdata"):
        open_in_explorer(int(points[0]["customdata"][0]))
    explorer_picker([int(f) for f in shown.groups.features], key="cov_open")

    st.subheader("How often features fire")
    fractions = {name: state.support(name, delta).count / max(state.support(name, delta).n_samples, 1)
                 for name in rows}
    st.plotly_chart(frequency_histogram(fractions), key="cov_hist")
    st.caption("For each dataset, the share of its samples on which each active feature fires (features never "
               "active are left out). A seed whose mass sits left of the anchor's activates the same features "
               "more rarely; features missing entirely are on the missing-features page.")


def main() -> None:
    anchor, seed = need_anchor_and_seed(need_seed=False)
    try:
        delta = threshold_slider(float(state.support(anchor, 0.0).max.max(initial=0.0)))
        same, other = data.comparable(anchor, state.dataset_names())
        st.sidebar.caption(f"Anchor: **{escape_inline(anchor)}**" + (f" · seed: **{escape_inline(seed)}**" if seed
                                                                       else ""))
        if other:
            st.sidebar.caption("Not comparable with the anchor (other model, SAE or layer): "
                               + ", ".join(escape_inline(n) for n in other))
        fac_section(anchor, [n for n in same if n != anchor], delta)
        heatmap_section(anchor, seed, same, delta)
        page_link(app_pages().missing, "Review the features the seed is missing", icon=":material/checklist:")
    except FacError as exc:
        state.show_error(exc)


main()
