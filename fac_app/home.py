"""Panels of the home page: model settings, datasets and their roles, the headline FAC and the pipeline
status (encoding lives in encode_panel.py, the project picker in frame.py)."""

from pathlib import Path

import pandas as pd
import streamlit as st

from fac_app import coverage_data as data
from fac_app import state
from fac_app.components import page_link
from fac_app.markup import escape_inline, quoted
from fac_app.navigation import app_pages
from fac_engine.assets import EMBEDDED_SAE_DIR
from fac_engine.errors import FacError
from fac_engine.workspace import Project, ProjectConfig

FAC_EXPLAINED = (
    "**FAC** (Feature Activation Coverage) is the share of the anchor's SAE features that the seed also "
    "activates: a feature counts for a dataset when at least one of its samples activates it above δ, and "
    "FAC = |F(seed) ∩ F(anchor)| / |F(anchor)|. We intersect with the anchor's features, unlike the paper's "
    "formula (whose numerator can exceed the anchor's count), so FAC stays between 0 and 100 %."
)


def model_settings(proj: Project) -> None:
    """The model, SAE and layer used for new encodings and the probe."""
    cfg = proj.config
    with st.form("home_model_form", border=False):
        model = st.text_input("Model", value=cfg.model, help="'embedded' (SmolLM2-135M-Instruct), a transformers "
                              "folder or a .gguf file")
        sae = st.text_input("SAE", value=cfg.sae, help="A folder or file in any supported SAE format")
        override = st.checkbox("Override the SAE's layer", value=cfg.layer is not None)
        layer = st.number_input("Layer (hidden_states index)", min_value=0, value=cfg.layer or 0, step=1)
        if st.form_submit_button("Save model and SAE"):
            try:
                proj.update(model=model.strip() or "embedded", sae=sae.strip() or str(EMBEDDED_SAE_DIR),
                            layer=int(layer) if override else None)
                st.toast("Saved the model and SAE of the project.")
            except FacError as exc:
                state.show_error(exc)
    custom = cfg.model != "embedded" or cfg.sae != str(EMBEDDED_SAE_DIR) or cfg.layer is not None
    if custom and st.button("Back to the embedded default", key="home_model_default"):
        proj.update(model="embedded", sae=str(EMBEDDED_SAE_DIR), layer=None)
        st.rerun()
    st.caption("Used for new encodings and the probe. Encoded datasets keep the model and SAE they were encoded "
               "with; only datasets encoded with the same ones are compared.")


def codes_badge(dropped: int) -> str:
    """Whether every active SAE feature reached the store: a warning badge when a max_active cap dropped some."""
    return "all active kept" if not dropped else f"⚠️ {dropped:,} dropped (SAE max_active cap)"


def datasets_table(names: list[str], cfg: ProjectConfig) -> pd.DataFrame:
    """One row per encoded dataset: its role in the project and what it was encoded with."""
    found = data.manifests()
    same = set(data.comparable(cfg.anchor, names)[0]) if cfg.anchor in found else set(names)
    rows = []
    for name in names:
        m = found[name]
        role = "anchor" if name == cfg.anchor else "seed" if name == cfg.seed else ""
        rows.append({"dataset": name, "role": role, "samples": m.n_samples, "tokens": m.n_tokens,
                     "labels": m.label_field or "", "schema": m.schema, "features": m.d_sae, "layer": m.layer,
                     "comparable": name in same, "SAE codes": codes_badge(m.dropped_activations), "model": m.model,
                     "file": Path(m.dataset_path).name})
    return pd.DataFrame(rows)


def role_select(proj: Project, field: str, label: str, names: list[str], help_text: str) -> None:
    """A selectbox that saves the project's anchor or seed as soon as it changes."""
    current = getattr(proj.config, field)
    key = f"home_{field}::{proj.name}"
    st.session_state[key] = current if current in names else None  # the project is the truth (other tabs too)

    def save() -> None:
        proj.update(**{field: st.session_state[key]})

    st.selectbox(label, names, key=key, on_change=save, placeholder="choose a dataset", help=help_text)


def headline(anchor: str, seed: str, delta: float) -> None:
    """FAC of the seed against the anchor, covered / missing counts and the weighted variants."""
    result = state.coverage(anchor, seed, delta)
    cols = st.columns(6)
    cols[0].metric("FAC", f"{100 * result.fac:.2f} %", help="Binary FAC: covered / anchor features.")
    cols[1].metric("Covered features", f"{result.covered:,}", help="Anchor features the seed also activates.")
    cols[2].metric("Missing features", f"{len(result.missing):,}",
                   help="Anchor features the seed never activates: what synthesis should target.")
    cols[3].metric("Anchor features", f"{result.anchor_features:,}",
                   help="Features at least one anchor sample activates above δ.")
    cols[4].metric("FAC_freq", f"{100 * result.fac_freq:.2f} %",
                   help="Each anchor feature weighted by the share of anchor samples activating it.")
    cols[5].metric("FAC_magnitude", f"{100 * result.fac_magnitude:.2f} %",
                   help="Each anchor feature weighted by its mean activation on the anchor samples activating it.")
    st.caption(f"{quoted(seed)} ({result.seed_samples:,} samples) against the anchor {quoted(anchor)} "
               f"({result.anchor_samples:,} samples) at δ = {delta:g}. " + FAC_EXPLAINED)


def pipeline(proj: Project, names: list[str]) -> None:
    """Where the project stands, step by step, with links to the next pages."""
    cfg = proj.config
    targets = len(proj.features_in(cfg.target_list))
    steps = [
        (cfg.anchor in names, "Anchor", escape_inline(cfg.anchor or "not chosen")),
        (cfg.seed in names, "Seed", escape_inline(cfg.seed or "not chosen")),
        (targets > 0, "Target features", f"{targets:,} in list {quoted(cfg.target_list)}"),
    ]
    cols = st.columns(len(steps) + 1)
    for col, (done, title, text) in zip(cols, steps, strict=False):
        col.markdown(f"{':material/check_circle:' if done else ':material/radio_button_unchecked:'} **{title}**  \n"
                     f"{text}")
    with cols[-1]:
        pages = app_pages()
        for page in (pages.coverage, pages.missing, pages.explorer, pages.feature_map):
            page_link(page, page.title, icon=page.icon)
