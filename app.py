"""FAC Studio dashboard, home page: the engine status and a live probe of the embedded default."""

import streamlit as st

from fac_app.resources import model_and_sae
from fac_app.tokens import highlight_tokens
from fac_engine.assets import EMBEDDED_SAE_DIR, embedded_sae_available
from fac_engine.errors import FacError
from fac_engine.probe import probe_text

st.set_page_config(page_title="FAC Studio", page_icon="🧭", layout="wide")
st.title("FAC Studio")
st.caption("What is your training data missing? Feature Activation Coverage in a language model's SAE feature space.")

with st.sidebar:
    st.header("Engine")
    model_source = st.text_input("Model", value="embedded", help="'embedded', a transformers folder or a .gguf file")
    sae_path = st.text_input("SAE", value=str(EMBEDDED_SAE_DIR), help="a folder or file in any supported format")
    device = st.selectbox("Device", ["auto", "cpu", "cuda"], index=0)

if sae_path == str(EMBEDDED_SAE_DIR) and not embedded_sae_available():
    st.error(f"The embedded SAE is missing from {EMBEDDED_SAE_DIR}. Pick another SAE in the sidebar.")
    st.stop()

try:
    lm, sae = model_and_sae(model_source, device, "auto", sae_path, None)
except FacError as exc:
    st.error(str(exc))
    st.stop()

cols = st.columns(5)
cols[0].metric("Model", lm.name)
cols[1].metric("Hidden size / blocks", f"{lm.hidden_size} / {lm.num_layers}")
cols[2].metric("SAE layer", sae.cfg.hook_layer)
cols[3].metric("Features (d_sae)", f"{sae.cfg.d_sae:,}")
cols[4].metric("Activation", f"{sae.cfg.activation}" + (f" k={sae.cfg.k}" if sae.cfg.k else ""))
metrics = sae.cfg.metrics
if metrics:
    st.caption(
        f"SAE quality on held-out text: FVU {metrics.get('fvu', float('nan')):.3f}, "
        f"L0 {metrics.get('l0', float('nan')):.1f}, dead latents {100 * metrics.get('dead_fraction', 0.0):.1f}%"
    )

st.subheader("Which features fire on a text?")
text = st.text_area("Type a sentence", value="How do I bake sourdough bread at home?", key="probe_text")
chat = st.toggle("Wrap in the chat template (as a user turn)", value=True)
if text.strip():
    result = probe_text(lm, sae, text, chat=chat)
    pooled = result.pooled
    content_tokens = len(result.tokens) - result.content_start
    st.write(f"{pooled.features.numel()} features active on {content_tokens} content tokens.")
    rows = [
        {
            "feature": int(pooled.features[i]),
            "max activation": round(float(pooled.max_values[i]), 3),
            "peak token": result.tokens[int(pooled.argmax[i])],
            "tokens active": int(pooled.counts[i]),
        }
        for i in range(min(20, pooled.features.numel()))
    ]
    left, right = st.columns([2, 3])
    left.dataframe(rows, hide_index=True, width="stretch")
    if rows:
        choice = right.selectbox("Highlight feature", [r["feature"] for r in rows], key="probe_feature")
        hits = (result.codes.indices == choice) * result.codes.values
        per_token = hits.sum(dim=1).tolist()
        content = slice(result.content_start, len(result.tokens))
        right.markdown(highlight_tokens(result.tokens[content], per_token[content]), unsafe_allow_html=True)
