"""Feature map: every SAE feature as a point (UMAP of decoder directions), coloured by coverage;
lasso or box a region to collect features, then save them to a named feature list."""

import numpy as np
import pandas as pd
import streamlit as st

from fac_app import feature_data as fd
from fac_app.state import SELECTION_KEY, coverage, go_to_feature, project, show_error, support
from fac_engine.coverage import parse_feature_ids
from fac_engine.errors import FacError
from fac_engine.features import estimate_seconds
from fac_engine.figures import CATEGORIES, CATEGORY_HELP, feature_map_figure, map_categories, selected_features
from fac_engine.workspace import Project, ProjectConfig

AUTO_COMPUTE_S = 60.0  # maps expected to take longer are computed only when the user asks
IDS_INPUT, LIST_NAME = "map_ids", "map_list_name"


def _add_typed(d_sae: int) -> None:
    try:
        typed = parse_feature_ids(str(st.session_state.get(IDS_INPUT, "")), d_sae)
    except FacError as exc:
        st.session_state["map_ids_error"] = str(exc)
        return
    st.session_state.pop("map_ids_error", None)
    st.session_state[SELECTION_KEY] = sorted(set(st.session_state.get(SELECTION_KEY, [])) | set(typed))
    st.session_state[IDS_INPUT] = ""


def _clear() -> None:
    st.session_state[SELECTION_KEY] = []


def _save(proj: Project) -> None:
    name = str(st.session_state.get(LIST_NAME, "")).strip()
    ids = list(st.session_state.get(SELECTION_KEY, []))
    try:
        proj.add_to_list(name, ids)
    except FacError as exc:
        st.session_state["map_saved"] = ("error", str(exc))
        return
    st.session_state["map_saved"] = ("ok", f"Added {len(ids):,} features to the list {name!r} "
                                           f"(now {len(proj.features_in(name)):,}).")


def categories(cfg: ProjectConfig, proj: Project, d_sae: int) -> tuple[np.ndarray, str]:
    """Each feature's map category and a sentence saying what it was computed from."""
    relevant = proj.features_in(fd.RELEVANT_LIST)
    if not cfg.anchor:
        return map_categories(d_sae, None, None, relevant), "Set an anchor dataset on the home page to colour " \
            "features by coverage."
    try:
        anchor = support(cfg.anchor, cfg.threshold).active
        seed = None
        if cfg.seed:
            result = coverage(cfg.anchor, cfg.seed, cfg.threshold)
            seed = support(cfg.seed, cfg.threshold).active
            note = (f"Seed {cfg.seed!r} covers {result.covered:,} of the {result.anchor_features:,} features that "
                    f"anchor {cfg.anchor!r} activates (FAC {result.fac:.1%}, delta {cfg.threshold:g}).")
        else:
            note = f"No seed set: every feature anchor {cfg.anchor!r} activates counts as missing."
    except FacError as exc:
        show_error(exc)
        return map_categories(d_sae, None, None, relevant), "Coverage could not be computed."
    if anchor.shape[0] != d_sae:
        st.warning(f"The anchor was encoded with an SAE of {anchor.shape[0]:,} features, the project's SAE has "
                   f"{d_sae:,}: colours are left out.")
        return map_categories(d_sae, None, None, relevant), "Coverage does not match this SAE."
    return map_categories(d_sae, anchor, seed, relevant), note


def selection_panel(proj: Project, d_sae: int, category: np.ndarray) -> None:
    chosen: list[int] = list(st.session_state.get(SELECTION_KEY, []))
    st.subheader(f"Selection ({len(chosen):,})")
    st.caption("Lasso or box points on the map, or type ids here; then save them to a feature list "
               "(lists feed synthesis and relevance).")
    st.text_input("Add feature ids", key=IDS_INPUT, placeholder="e.g. 3, 8, 12-15",
                  on_change=_add_typed, args=(d_sae,))
    if st.session_state.get("map_ids_error"):
        st.error(st.session_state["map_ids_error"])
    if chosen:
        explanations = proj.explanations()
        st.dataframe(pd.DataFrame({"feature": chosen, "category": category[chosen],
                                   "explanation": [explanations.get(f, "") for f in chosen]}),
                     hide_index=True, height=min(36 * (len(chosen) + 1), 320), key="map_selection_table")
    if LIST_NAME not in st.session_state:
        st.session_state[LIST_NAME] = proj.config.target_list
    st.text_input("Feature list", key=LIST_NAME, help=f"Defaults to the list synthesis targets. Existing: "
                  f"{', '.join(proj.list_names()) or 'none yet'}. A new name creates the list.")
    save, clear = st.columns(2)
    save.button(f"Add {len(chosen):,} to the list", key="map_add_to_list", on_click=_save, args=(proj,),
                disabled=not chosen, type="primary")
    clear.button("Clear the selection", key="map_clear", on_click=_clear, disabled=not chosen)
    saved = st.session_state.pop("map_saved", None)
    if saved:
        (st.success if saved[0] == "ok" else st.error)(saved[1])
    if chosen:
        pick = st.selectbox("Open in the explorer", chosen, key="map_open_pick", format_func=lambda f: f"feature {f}")
        if st.button("Open", key="map_open"):
            go_to_feature(pick)


st.title("Feature map")
st.caption("Every feature of the SAE as a point: a UMAP of the decoder directions (cosine), so features that write "
           "in similar directions sit together. Clusters of red points are regions of feature space the anchor "
           "reaches and the seed does not.")

try:
    proj = project()
    config = proj.config
    sae, _ = fd.map_sae(config)
except FacError as exc:
    show_error(exc)
    st.stop()
n_features = sae.cfg.d_sae
frame = fd.cached_map(config)
if frame is None:
    seconds = estimate_seconds(n_features)
    if seconds <= AUTO_COMPUTE_S or st.button(f"Compute the map of {n_features:,} features (about "
                                               f"{seconds / 60:.0f} min, once per SAE)", key="map_compute"):
        fd.compute_map(config)
        frame = fd.cached_map(config)
    else:
        st.info(f"The map of this SAE is not computed yet. It takes about {seconds / 60:.0f} min on a laptop CPU "
                "and is cached for every later visit.")
        st.stop()
assert frame is not None
if SELECTION_KEY not in st.session_state:
    st.session_state[SELECTION_KEY] = []

category, note = categories(config, proj, n_features)
counts = {name: int((category == name).sum()) for name in CATEGORIES}
for col, name in zip(st.columns(len(CATEGORIES)), CATEGORIES, strict=True):
    col.metric(name.capitalize(), f"{counts[name]:,}", help=CATEGORY_HELP[name])
st.caption(note)

chart, side = st.columns([3, 1])
with chart:
    event = st.plotly_chart(feature_map_figure(frame, category, st.session_state[SELECTION_KEY]), key="feature_map",
                            on_select="rerun", selection_mode=("box", "lasso"),
                            config={"displaylogo": False, "scrollZoom": True})
    st.caption("Drag to lasso (or pick the box tool in the chart's toolbar); double-click to clear the selection. "
               "Selected points are added to the selection on the right. The axes have no meaning; distances "
               "between nearby points do.")
picked = selected_features(event)
if picked and picked != st.session_state.get("map_last_event"):
    st.session_state["map_last_event"] = picked
    st.session_state[SELECTION_KEY] = sorted(set(st.session_state[SELECTION_KEY]) | set(picked))
    st.rerun()
with side:
    selection_panel(proj, n_features, category)
