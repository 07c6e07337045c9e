"""The feature map's pieces: each feature's colour category and the selection panel (typed ids, saving
the selection to a named feature list, opening a feature in the explorer)."""

import numpy as np
import pandas as pd
import streamlit as st

from fac_app import feature_data as fd
from fac_app import state
from fac_app.markup import escape_inline, quoted
from fac_engine.coverage import parse_feature_ids
from fac_engine.errors import FacError
from fac_engine.figures import map_categories
from fac_engine.workspace import Project, ProjectConfig

IDS_INPUT, LIST_NAME = "map_ids", "map_list_name"
LAST_EVENT = "map_last_event"
"""The last lasso/box selection taken into the selection (a rerun repeats the chart's event)."""


def take_selection(picked: list[int]) -> None:
    """Add features lassoed or boxed on the map to the selection (once per chart event)."""
    if picked and picked != st.session_state.get(LAST_EVENT):
        st.session_state[LAST_EVENT] = picked
        state.set_selection(state.selection() | set(picked))
        st.rerun()


def _add_typed(d_sae: int) -> None:
    try:
        typed = parse_feature_ids(str(st.session_state.get(IDS_INPUT, "")), d_sae)
    except FacError as exc:
        st.session_state["map_ids_error"] = str(exc)
        return
    st.session_state.pop("map_ids_error", None)
    state.set_selection(state.selection() | set(typed))
    st.session_state[IDS_INPUT] = ""


def _clear() -> None:
    state.set_selection(set())


def _save(proj: Project) -> None:
    name = str(st.session_state.get(LIST_NAME, "")).strip()
    ids = sorted(state.selection())
    try:
        proj.add_to_list(name, ids)
    except FacError as exc:
        st.session_state["map_saved"] = ("error", str(exc))
        return
    st.session_state["map_saved"] = ("ok", f"Added {len(ids):,} features to the list {quoted(name)} "
                                           f"(now {len(proj.features_in(name)):,}).")


def categories(cfg: ProjectConfig, proj: Project, d_sae: int) -> tuple[np.ndarray, str]:
    """Each feature's map category and a sentence saying what it was computed from."""
    relevant = proj.features_in(fd.RELEVANT_LIST)
    if not cfg.anchor:
        return map_categories(d_sae, None, None, relevant), "Set an anchor dataset on the home page to colour " \
            "features by coverage."
    try:
        anchor = state.support(cfg.anchor, cfg.threshold).active
        seed = None
        if cfg.seed:
            result = state.coverage(cfg.anchor, cfg.seed, cfg.threshold)
            seed = state.support(cfg.seed, cfg.threshold).active
            note = (f"Seed {quoted(cfg.seed)} covers {result.covered:,} of the {result.anchor_features:,} features "
                    f"that anchor {quoted(cfg.anchor)} activates (FAC {result.fac:.1%}, delta {cfg.threshold:g}).")
        else:
            note = f"No seed set: every feature anchor {quoted(cfg.anchor)} activates counts as missing."
    except FacError as exc:
        state.show_error(exc)
        return map_categories(d_sae, None, None, relevant), "Coverage could not be computed."
    if anchor.shape[0] != d_sae:
        st.warning(f"The anchor was encoded with an SAE of {anchor.shape[0]:,} features, the project's SAE has "
                   f"{d_sae:,}: colours are left out.")
        return map_categories(d_sae, None, None, relevant), "Coverage does not match this SAE."
    counted = state.relevant_set()
    if counted is not None:  # the sidebar's toggle: only task-relevant features are covered or missing
        mask = np.zeros(d_sae, dtype=bool)
        ids = np.fromiter(counted, dtype=np.int64, count=len(counted))
        mask[ids[(ids >= 0) & (ids < d_sae)]] = True
        anchor = anchor & mask
        note += (f" Only the project's {len(counted):,} task-relevant features are coloured as covered or missing (the "
                 "sidebar's toggle); the others are drawn grey.")
    return map_categories(d_sae, anchor, seed, relevant), note


def selection_panel(proj: Project, d_sae: int, category: np.ndarray) -> None:
    """The picked features with their categories, typed ids, saving to a list, opening one in the explorer."""
    chosen = sorted(state.selection())
    st.subheader(f"Selection ({len(chosen):,})")
    st.caption("Lasso or box points on the map, or type ids here; then save them to a feature list "
               "(lists feed synthesis and relevance).")
    st.text_input("Add feature ids", key=IDS_INPUT, placeholder="e.g. 3, 8, 12-15",
                  on_change=_add_typed, args=(d_sae,))
    if st.session_state.get("map_ids_error"):
        st.error(escape_inline(st.session_state["map_ids_error"]))
    if chosen:
        explanations = proj.explanations()
        st.dataframe(pd.DataFrame({"feature": chosen, "category": category[chosen],
                                   "explanation": [explanations.get(f, "") for f in chosen]}),
                     hide_index=True, height=min(36 * (len(chosen) + 1), 320), key="map_selection_table")
    if LIST_NAME not in st.session_state:
        st.session_state[LIST_NAME] = proj.config.target_list
    existing = ", ".join(quoted(n) for n in proj.list_names()) or "none yet"
    st.text_input("Feature list", key=LIST_NAME, help=f"Defaults to the list synthesis targets. Existing: {existing}. "
                  "A new name creates the list.")
    save, clear = st.columns(2)
    save.button(f"Add {len(chosen):,} to the list", key="map_add_to_list", on_click=_save, args=(proj,),
                disabled=not chosen, type="primary")
    clear.button("Clear the selection", key="map_clear", on_click=_clear, disabled=not chosen)
    saved = st.session_state.pop("map_saved", None)
    if saved:
        st.success(saved[1]) if saved[0] == "ok" else st.error(escape_inline(saved[1]))
    if chosen:
        pick = st.selectbox("Open in the explorer", chosen, key="map_open_pick", format_func=lambda f: f"feature {f}")
        if st.button("Open", key="map_open"):
            state.go_to_feature(pick)
