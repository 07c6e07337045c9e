"""Plotly figures of the feature explorer and the feature map (pure functions: data in, figure out).

No dataset text ever goes into a figure: plotly renders a subset of HTML (links included) in
labels, so tokens and sample texts are shown in Streamlit tables and escaped markdown instead.
"""

from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go

CATEGORIES: Final = ("missing", "covered", "relevant", "inactive")
"""Map colours, in the order of precedence (a feature gets the first that applies)."""
CATEGORY_COLORS: Final = {"missing": "#d62728", "covered": "#2ca02c", "relevant": "#9467bd", "inactive": "#c7c7c7"}
CATEGORY_HELP: Final = {
    "missing": "the anchor activates it, the seed never does: what synthesis should target",
    "covered": "both the anchor and the seed activate it",
    "relevant": "in the project's 'relevant' list, not activated by the anchor",
    "inactive": "not activated by the anchor at this threshold",
}
BAR_COLOR: Final = "#ff8c00"


def activation_histogram(hist: Sequence[int], max_value: float, threshold: float | None = None) -> go.Figure:
    """Bars of a feature's per-sample activation g_i(x) in equal bins over (0, max], optional delta line."""
    bins = len(hist)
    width = max_value / bins if bins and max_value > 0 else 1.0
    centres = [(i + 0.5) * width for i in range(bins)]
    labels = [f"{i * width:.3g} to {(i + 1) * width:.3g}" for i in range(bins)]
    fig = go.Figure(go.Bar(x=centres, y=list(hist), width=width * 0.95, marker_color=BAR_COLOR, customdata=labels,
                           hovertemplate="g in %{customdata}: %{y} samples<extra></extra>"))
    if threshold is not None and threshold > 0:
        fig.add_vline(x=threshold, line_dash="dash", line_color="#555", annotation_text=f"delta = {threshold:g}")
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 10, "b": 10}, bargap=0.05,
                      xaxis_title="max activation over the sample's content tokens (g)", yaxis_title="samples")
    return fig


def map_categories(d_sae: int, anchor_active: np.ndarray | None, seed_active: np.ndarray | None,
                   relevant: Iterable[int] = ()) -> np.ndarray:
    """str[d_sae] category of every feature (CATEGORIES, by precedence).

    Without an anchor no feature is missing or covered; without a seed every anchor feature is missing.
    """
    out = np.full(d_sae, "inactive", dtype=object)
    ids = np.fromiter((int(i) for i in relevant), dtype=np.int64)
    out[ids[(ids >= 0) & (ids < d_sae)]] = "relevant"
    if anchor_active is not None:
        seed = np.zeros(d_sae, bool) if seed_active is None else np.asarray(seed_active, bool)
        anchor = np.asarray(anchor_active, bool)
        out[anchor & seed] = "covered"
        out[anchor & ~seed] = "missing"
    return out


def feature_map_figure(frame: pd.DataFrame, category: np.ndarray, highlight: Iterable[int] = ()) -> go.Figure:
    """One WebGL scatter trace per category (inactive drawn first, missing on top), lasso by default.

    Each point's customdata is its feature id, which is what a selection reports back.
    """
    n = len(frame)
    size = 9 if n <= 2_000 else 5 if n <= 20_000 else 3
    fig = go.Figure()
    for name in reversed(CATEGORIES):
        rows = np.flatnonzero(category == name)
        if rows.size == 0:
            continue
        part = frame.iloc[rows]
        fig.add_trace(go.Scattergl(
            x=part["x"], y=part["y"], mode="markers", name=f"{name} ({rows.size:,})",
            customdata=part["feature"].to_numpy(),
            marker={"size": size, "color": CATEGORY_COLORS[name], "opacity": 0.8},
            hovertemplate=f"feature %{{customdata}}<br>{name}<extra></extra>"))
    marked = frame[frame["feature"].isin(list(highlight))]
    if len(marked):
        fig.add_trace(go.Scattergl(x=marked["x"], y=marked["y"], mode="markers", name="selected",
                                   customdata=marked["feature"].to_numpy(), hoverinfo="skip",
                                   marker={"size": size + 6, "color": "rgba(0,0,0,0)",
                                           "line": {"width": 2, "color": "#111"}}))
    fig.update_layout(height=640, dragmode="lasso", margin={"l": 0, "r": 0, "t": 30, "b": 0},
                      legend={"orientation": "h", "y": 1.04, "x": 0}, plot_bgcolor="white")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return fig


def selected_features(event: object) -> list[int]:
    """Feature ids of the points in a st.plotly_chart selection event (sorted, unique)."""
    try:
        points = event["selection"]["points"]  # type: ignore[index]
    except (KeyError, TypeError):
        return []
    ids = set()
    for point in points or []:
        value = point.get("customdata")
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if value is not None:
            ids.add(int(value))
    return sorted(ids)
