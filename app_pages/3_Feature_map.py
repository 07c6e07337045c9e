"""Feature map: every SAE feature as a point (UMAP of decoder directions), coloured by coverage;
lasso or box a region to collect features, then save them to a named feature list."""

import streamlit as st

from fac_app import feature_data as fd
from fac_app import map_view as view
from fac_app import state
from fac_engine.errors import FacError
from fac_engine.features import estimate_seconds
from fac_engine.figures import CATEGORIES, CATEGORY_HELP, feature_map_figure, selected_features

AUTO_COMPUTE_S = 60.0  # maps expected to take longer are computed only when the user asks

st.title("Feature map")
st.caption("Every feature of the SAE as a point: a UMAP of the decoder directions (cosine), so features that write "
           "in similar directions sit together. Clusters of red points are regions of feature space the anchor "
           "reaches and the seed does not.")

try:
    proj = state.project()
    config = proj.config
    sae, _ = fd.map_sae(config)
except FacError as exc:
    state.show_error(exc)
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

category, note = view.categories(config, proj, n_features)
counts = {name: int((category == name).sum()) for name in CATEGORIES}
for col, name in zip(st.columns(len(CATEGORIES)), CATEGORIES, strict=True):
    col.metric(name.capitalize(), f"{counts[name]:,}", help=CATEGORY_HELP[name])
st.caption(note)

chart, side = st.columns([3, 1])
with chart:
    event = st.plotly_chart(feature_map_figure(frame, category, sorted(state.selection())), key="feature_map",
                            on_select="rerun", selection_mode=("box", "lasso"),
                            config={"displaylogo": False, "scrollZoom": True})
    st.caption("Drag to lasso (or pick the box tool in the chart's toolbar); double-click to clear the selection. "
               "Selected points are added to the selection on the right. The axes have no meaning; distances "
               "between nearby points do.")
view.take_selection(selected_features(event))
with side:
    view.selection_panel(proj, n_features, category)
