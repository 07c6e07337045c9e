"""The text probe, one component for the home page and the explorer: a typed text through the project's
model and SAE, the features that fire on it (strongest first, with their explanations) and its tokens
shaded by one of them. The home page wraps it with the model's facts, loaded only on request."""

import pandas as pd
import streamlit as st

from fac_app import state
from fac_app.markup import escape_inline, inline_code, token_html, visible_token
from fac_engine.errors import FacError
from fac_engine.workspace import Project


def text_probe(proj: Project, key: str) -> None:
    """Which features fire on a typed text, per token; a button opens the picked one in the explorer.

    `key` prefixes every widget key, so the component can sit on two pages with their own state.
    """
    st.text_area("A text to run through the model and the SAE", key=f"{key}_text", height=90,
                 placeholder="e.g. How do I bake sourdough bread at home?")
    st.toggle("Wrap it in the chat template, as datasets are encoded", value=True, key=f"{key}_chat")
    if st.button("Find the features that fire", key=f"{key}_go"):
        st.session_state[f"{key}_for"] = str(st.session_state.get(f"{key}_text", ""))
    text = str(st.session_state.get(f"{key}_for", ""))
    if not text.strip():
        return
    from fac_app import feature_data as fd  # torch and transformers load in seconds: only once a text is probed

    try:
        with st.spinner("Running the model..."):
            found = fd.probe(proj.config, text, bool(st.session_state.get(f"{key}_chat", True)))
    except FacError as exc:
        state.show_error(exc)
        return
    if found.features.size == 0:
        st.info("No feature fires on the content tokens of this text.")
        return
    texts = proj.explanations()
    table = pd.DataFrame({
        "feature": found.features, "max activation": found.max_values,
        "peak token": [visible_token(found.tokens[int(p)]) for p in found.peak],
        "active tokens": found.active_tokens, "explanation": [texts.get(int(f), "") for f in found.features]})
    st.caption(f"{len(table)} features fire on the {len(found.tokens) - found.content_start} content tokens "
               "(strongest first).")
    st.dataframe(table, hide_index=True, height=min(36 * (len(table) + 1), 300), key=f"{key}_table",
                 column_config={"max activation": st.column_config.NumberColumn(format="%.3f")})
    pick = st.selectbox("Shade the tokens by", found.features.tolist(), key=f"{key}_feature",
                        format_func=lambda f: f"feature {f}")
    st.markdown(token_html(found.tokens, found.token_activations(pick), found.content_start, with_prefix=False,
                           scale=None), unsafe_allow_html=True)
    if st.button(f"Open feature {pick}", key=f"{key}_open"):
        state.go_to_feature(int(pick))


def probe_panel() -> None:
    """The home page's probe: the model's and the SAE's facts, then the text probe; nothing loads until asked."""
    proj = state.project()
    cfg = proj.config
    if not st.toggle("Load the model and SAE", value=False, key="probe_on",
                     help="Loads the project's model and SAE into memory (seconds for the embedded default)."):
        layer = "" if cfg.layer is None else f", layer {cfg.layer}"
        st.caption(f"Model {inline_code(cfg.model)}, SAE {inline_code(cfg.sae)}{layer}")
        return
    from fac_app import feature_data as fd  # torch and transformers load in seconds: only when asked
    from fac_app.resources import model_and_sae

    try:
        lm, sae = model_and_sae(cfg.model, fd.DEVICE, fd.DTYPE, cfg.sae, cfg.layer)
    except FacError as exc:
        state.show_error(exc)
        return
    cols = st.columns(5)
    cols[0].metric("Model", escape_inline(lm.name))
    cols[1].metric("Hidden size / blocks", f"{lm.hidden_size} / {lm.num_layers}")
    cols[2].metric("SAE layer", sae.cfg.hook_layer)
    cols[3].metric("Features (d_sae)", f"{sae.cfg.d_sae:,}")
    cols[4].metric("Activation", escape_inline(sae.cfg.activation) + (f" k={sae.cfg.k}" if sae.cfg.k else ""))
    metrics = sae.cfg.metrics
    if metrics:
        st.caption(f"SAE quality on held-out text: FVU {metrics.get('fvu', float('nan')):.3f}, "
                   f"L0 {metrics.get('l0', float('nan')):.1f}, "
                   f"dead latents {100 * metrics.get('dead_fraction', 0.0):.1f}%")
    text_probe(proj, key="probe")
