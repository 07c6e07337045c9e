"""The home page's probe: load the project's model and SAE on request and show which features fire on a text."""

import streamlit as st

from fac_app import state
from fac_app.components import open_in_explorer
from fac_app.markup import highlight_tokens
from fac_engine.errors import FacError

PROBE_ROWS = 20
"""Features listed for a probed text."""


def probe_panel() -> None:
    """Engine facts and a live text probe; nothing is loaded until the user asks."""
    cfg = state.project().config
    if not st.toggle("Load the model and SAE", value=False, key="probe_on",
                     help="Loads the project's model and SAE into memory (seconds for the embedded default)."):
        st.caption(f"Model `{cfg.model}`, SAE `{cfg.sae}`" + (f", layer {cfg.layer}" if cfg.layer is not None else ""))
        return
    from fac_app.resources import model_and_sae  # torch and transformers load in seconds: only when asked
    from fac_engine.encoding import probe_text

    try:
        lm, sae = model_and_sae(cfg.model, "auto", "auto", cfg.sae, cfg.layer)
    except FacError as exc:
        state.show_error(exc)
        return
    cols = st.columns(5)
    cols[0].metric("Model", lm.name)
    cols[1].metric("Hidden size / blocks", f"{lm.hidden_size} / {lm.num_layers}")
    cols[2].metric("SAE layer", sae.cfg.hook_layer)
    cols[3].metric("Features (d_sae)", f"{sae.cfg.d_sae:,}")
    cols[4].metric("Activation", f"{sae.cfg.activation}" + (f" k={sae.cfg.k}" if sae.cfg.k else ""))
    metrics = sae.cfg.metrics
    if metrics:
        st.caption(f"SAE quality on held-out text: FVU {metrics.get('fvu', float('nan')):.3f}, "
                   f"L0 {metrics.get('l0', float('nan')):.1f}, "
                   f"dead latents {100 * metrics.get('dead_fraction', 0.0):.1f}%")
    text = st.text_area("Type a sentence", value="How do I bake sourdough bread at home?", key="probe_text")
    chat = st.toggle("Wrap in the chat template (as a user turn)", value=True, key="probe_chat")
    if not text.strip():
        return
    result = probe_text(lm, sae, text, chat=chat)
    pooled = result.pooled
    st.write(f"{pooled.features.numel()} features active on {len(result.tokens) - result.content_start} "
             "content tokens.")
    shown = min(PROBE_ROWS, pooled.features.numel())
    ids = [int(f) for f in pooled.features[:shown].tolist()]
    rows = [{"feature": ids[i], "max activation": round(float(pooled.max_values[i]), 3),
             "peak token": result.tokens[int(pooled.argmax[i])], "tokens active": int(pooled.counts[i])}
            for i in range(shown)]
    left, right = st.columns([2, 3])
    left.dataframe(rows, hide_index=True, width="stretch")
    choice = right.selectbox("Highlight feature", ids, key="probe_feature") if ids else None
    if choice is not None:
        per_token = ((result.codes.indices == choice) * result.codes.values).sum(dim=1).tolist()
        content = slice(result.content_start, len(result.tokens))
        right.markdown(highlight_tokens(result.tokens[content], per_token[content]), unsafe_allow_html=True)
        if right.button("Open in the explorer", key="probe_open"):
            open_in_explorer(choice)
