"""The missing-features page's pieces: the filter row, the table with a checkbox per feature, the
selection (shared with the feature map) and the project's named feature lists."""

import pandas as pd
import streamlit as st

from fac_app import state
from fac_app.components import explorer_url
from fac_app.markup import escape_inline, quoted
from fac_engine.coverage import MissingFilter, label_names
from fac_engine.workspace import Project

VERSION_KEY = "missing_editor_version"
"""Bumped when the selection changes outside the table: the table starts afresh from it."""
MULTI_KEY = "missing_selected"
SORTS = {"anchor_frequency": "anchor frequency", "log_odds": "label log-odds", "mean_activation": "mean activation",
         "max_activation": "max activation", "feature": "feature id", "relevance": "relevance"}


def selection() -> set[int]:
    """Feature ids picked here or on the feature map and not yet saved."""
    return state.selection()


def set_selection(features: set[int] | list[int]) -> None:
    """Replace the selection and redraw the table from it."""
    state.set_selection(features)
    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1


def filter_controls(frame: pd.DataFrame) -> tuple[MissingFilter, str, bool]:
    """The filter row and the sort order."""
    labels = label_names(frame)
    c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 3, 2])
    min_pct = c1.number_input("Min anchor frequency (%)", min_value=0.0, max_value=100.0, value=0.0, step=0.1,
                              key="missing_min_freq", help="Share of anchor samples activating the feature.")
    label = c2.selectbox("Associated with label", ["any", *labels], key="missing_label", disabled=not labels,
                         help="Smoothed log-odds of firing on this anchor label versus the others.")
    min_odds = c3.number_input("Min log-odds", value=1.0, step=0.5, key="missing_min_odds",
                               disabled=label == "any")
    text = c4.text_input("Explanation contains", key="missing_text", placeholder="words, all must occur")
    min_relevance = None
    if "relevance" in frame:
        min_relevance = c5.number_input("Min relevance", value=0.0, step=0.1, key="missing_min_rel")
    sorts = [s for s in SORTS if s in frame]
    s1, s2, _ = st.columns([2, 2, 6])
    sort = s1.selectbox("Sort by", sorts, format_func=SORTS.__getitem__, key="missing_sort")
    descending = s2.toggle("Descending", value=sort != "feature", key=f"missing_desc::{sort}")
    flt = MissingFilter(min_frequency=min_pct / 100, label=None if label == "any" else label,
                        min_log_odds=float(min_odds), text=text, min_relevance=min_relevance)
    return flt, sort, descending


def features_table(shown: pd.DataFrame, proj: Project, signature: str) -> None:
    """The filtered rows with a checkbox each; ticking updates the selection."""
    chosen = selection()
    view = shown.copy()
    view.insert(0, "select", view["feature"].isin(chosen))
    view.insert(2, "open", [explorer_url(f, proj.name) for f in view["feature"]])
    columns = ["select", "feature", "open", "anchor_samples", "anchor_frequency",
               "mean_activation", "max_activation",
               *[c for c in ("label", "log_odds", "explanation", "relevance") if c in view]]
    key = f"missing_editor::{st.session_state.get(VERSION_KEY, 0)}::{signature}"
    edited = st.data_editor(
        view, key=key, hide_index=True, width="stretch", height=min(38 + 35 * max(len(view), 1), 560),
        column_order=columns, disabled=[c for c in view.columns if c != "select"], column_config={
            "select": st.column_config.CheckboxColumn("✓", help="Pick for a feature list", width="small"),
            "feature": st.column_config.NumberColumn("feature", format="%d", width="small"),
            "open": st.column_config.LinkColumn("explorer", display_text="open ↗", width="small",
                                                help="Ctrl- or ⌘-click: the feature in the explorer, in a new tab"),
            "anchor_samples": st.column_config.NumberColumn("anchor samples", format="localized"),
            "anchor_frequency": st.column_config.ProgressColumn("anchor frequency", format="percent", min_value=0.0,
                                                                max_value=max(float(view["anchor_frequency"].max()),
                                                                              1e-9) if len(view) else 1.0),
            "mean_activation": st.column_config.NumberColumn("mean activation", format="%.3f"),
            "max_activation": st.column_config.NumberColumn("max activation", format="%.3f"),
            "label": st.column_config.TextColumn("label", help="The anchor label it fires on relatively most"),
            "log_odds": st.column_config.NumberColumn("log-odds", format="%.2f"),
            "explanation": st.column_config.TextColumn("explanation", width="large"),
            "relevance": st.column_config.NumberColumn("relevance", format="%.2f"),
        })
    ticked = set(edited.loc[edited["select"], "feature"].astype(int))
    updated = (chosen - set(shown["feature"].astype(int))) | ticked
    if updated != chosen:
        state.set_selection(updated)  # the table already shows it: no redraw


def selection_box(frame: pd.DataFrame) -> None:
    """The selection as an editable list (it also holds features picked on other pages)."""
    chosen = selection()
    explained = dict(zip(frame["feature"].astype(int), frame["explanation"], strict=True))
    options = sorted(set(explained) | chosen)
    st.session_state[MULTI_KEY] = sorted(chosen)
    st.multiselect(f"Selected features ({len(chosen):,})", options, key=MULTI_KEY,
                   on_change=lambda: set_selection(st.session_state[MULTI_KEY]),
                   format_func=lambda f: f"{f} · {explained[f][:40]}" if explained.get(f) else str(f),
                   placeholder="tick rows above, or type feature ids")


def lists_panel(proj: Project, chosen: set[int]) -> None:
    """Save the selection into named lists of the project and pick the list synthesis targets."""
    cfg = proj.config
    st.subheader("Feature lists")
    left, right = st.columns(2)
    with left:
        name = st.text_input("List name", value=cfg.target_list, key="missing_list_name").strip()
        b1, b2, b3 = st.columns(3)
        if b1.button(f"Add {len(chosen):,} to list", key="missing_add", type="primary", disabled=not chosen):
            proj.add_to_list(name, chosen)
            st.toast(f"{escape_inline(name)}: {len(proj.features_in(name)):,} features.")
        if b2.button("Remove from list", key="missing_remove", disabled=not chosen):
            proj.remove_from_list(name, chosen)
        if b3.button("Select this list", key="missing_load", help="Replace the selection with the list's features"):
            set_selection(proj.features_in(name))
            st.rerun()
        if name and name != cfg.target_list and st.button(f"Make {quoted(name)} the synthesis target",
                                                           key="missing_target"):
            proj.update(target_list=name)
            st.rerun()
    with right:
        names = proj.list_names()
        if not names:
            st.caption("No lists yet: tick features, name a list and press *Add*.")
        else:
            lists = pd.DataFrame({"list": names, "features": [len(proj.features_in(n)) for n in names],
                                  "synthesis target": [n == cfg.target_list for n in names]})
            st.dataframe(lists, hide_index=True, width="stretch")
            with st.popover("Delete a list", icon=":material/delete:"):
                doomed = st.selectbox("List", names, key="missing_delete_name")
                if st.button(f"Delete {quoted(doomed)} for good", key="missing_delete", type="primary"):
                    proj.delete_list(doomed)
                    st.rerun()
    st.caption(f"Synthesis targets the features of the list **{escape_inline(cfg.target_list)}** "
               f"({len(proj.features_in(cfg.target_list)):,} now). Lists are saved in the project at once.")


def selection_buttons(shown: pd.DataFrame, total: int) -> None:
    """Select every feature shown, clear the selection, and how many of the missing features are shown."""
    b1, b2, b3 = st.columns([2, 2, 6], vertical_alignment="center")
    if b1.button(f"Select all {len(shown):,} shown", key="missing_select_all"):
        set_selection(selection() | set(shown["feature"].astype(int)))
    if b2.button("Clear selection", key="missing_clear"):
        set_selection(set())
    b3.caption(f"Showing {len(shown):,} of {total:,} missing features.")
