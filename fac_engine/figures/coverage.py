"""Plotly figures of the coverage page, as pure functions of engine results (no streamlit here)."""

import html
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fac_engine.coverage.slices import FeatureGroups, SliceCounts

COLOR_SCALE = "Viridis"
FAC_COLORS = {"fac": "#1f4e79", "fac_freq": "#5b9bd5", "fac_magnitude": "#a9c9ea"}
FAC_NAMES = {"fac": "FAC (binary)", "fac_freq": "FAC_freq", "fac_magnitude": "FAC_magnitude"}
CLICKABLE_CELLS = 40_000
"""Up to this many cells the heatmap carries an invisible point per cell, so a click selects a feature
(Streamlit's selection events ignore heatmap traces)."""
EXPLANATION_CHARS = 120
"""Explanations are cut to this length in hover boxes."""
LOG_FLOOR = -4.0
"""Lowest decade of the log colour scale (0.01 %); smaller non-zero fractions are drawn at it."""


def _short(text: str) -> str:
    text = " ".join(text.split())
    cut = text if len(text) <= EXPLANATION_CHARS else text[: EXPLANATION_CHARS - 1] + "…"
    return html.escape(cut)


def coverage_heatmap(slices: SliceCounts, groups: FeatureGroups, explanations: Mapping[int, str] | None = None,
                     *, log_scale: bool = False) -> go.Figure:
    """Features (columns, in `groups` order) x slices (rows); colour = share of the slice's samples activating it.

    Hover names the feature, the slice's count and size, and the explanation (HTML-escaped: it may
    quote dataset text). Every cell has customdata [feature, count, size, percent, explanation];
    when the grid is small enough, an invisible scatter point per cell makes clicks selectable.
    """
    features = groups.features
    n_slices, n_features = len(slices.names), features.size
    count_SN = slices.counts[:, features]
    frac_SN = slices.fractions[:, features]
    texts = explanations or {}
    explained = np.array([_short(texts.get(int(f), "")) for f in features], dtype=object)
    custom = np.empty((n_slices, n_features, 5), dtype=object)
    custom[..., 0] = features[None, :]
    custom[..., 1] = count_SN
    custom[..., 2] = np.broadcast_to(slices.sizes[:, None], (n_slices, n_features))
    custom[..., 3] = np.char.mod("%.2f", 100 * frac_SN)
    custom[..., 4] = np.broadcast_to(explained[None, :], (n_slices, n_features))
    hover = ("<b>feature %{customdata[0]}</b><br>%{y}: %{customdata[1]} of %{customdata[2]} samples "
             "(%{customdata[3]} %)<br>%{customdata[4]}<extra></extra>")
    if log_scale:
        with np.errstate(divide="ignore"):
            z = np.where(frac_SN > 0, np.maximum(np.log10(frac_SN), LOG_FLOOR), np.nan)
        ticks = np.arange(LOG_FLOOR, 0.5)
        colorbar = {"title": "share of samples", "tickvals": ticks.tolist(),
                    "ticktext": [f"{100 * 10 ** t:g} %" for t in ticks]}
        zmin, zmax = LOG_FLOOR, 0.0
    else:
        z = frac_SN
        colorbar = {"title": "share of samples", "tickformat": ".0%"}
        zmin, zmax = 0.0, max(float(frac_SN.max(initial=0.0)), 1e-9)
    x = np.arange(n_features)
    rows = [html.escape(name) for name in slices.names]  # label values are dataset text; plotly renders tags
    clickable = n_slices * n_features <= CLICKABLE_CELLS
    fig = go.Figure(go.Heatmap(z=z, x=x, y=rows, customdata=custom, colorscale=COLOR_SCALE,
                               zmin=zmin, zmax=zmax, colorbar=colorbar, hovertemplate=hover,
                               hoverinfo="skip" if clickable else None, xgap=0, ygap=1))
    if clickable:
        fig.add_trace(go.Scatter(
            x=np.tile(x, n_slices), y=np.repeat(np.array(rows, dtype=object), n_features),
            customdata=custom.reshape(-1, 5), mode="markers", hovertemplate=hover, showlegend=False,
            marker={"symbol": "square", "size": 8, "opacity": 0.0, "color": "black"},
            selected={"marker": {"opacity": 0.6}}, unselected={"marker": {"opacity": 0.0}}))
    _group_marks(fig, groups)
    fig.update_layout(height=140 + 30 * n_slices, margin={"l": 10, "r": 10, "t": 40, "b": 30},
                      clickmode="event+select", dragmode=False, plot_bgcolor="#f4f4f4",
                      xaxis={"showticklabels": n_features <= 60, "tickvals": x.tolist() if n_features <= 60 else None,
                             "ticktext": [str(f) for f in features] if n_features <= 60 else None,
                             "title": f"{n_features} features", "range": [-0.5, n_features - 0.5],
                             "showgrid": False, "zeroline": False},
                      yaxis={"autorange": "reversed", "showgrid": False, "type": "category"})
    return fig


def _group_marks(fig: go.Figure, groups: FeatureGroups) -> None:
    """A thin line between groups and, when there are few, each group's name above it."""
    if groups.group.size == 0:
        return
    starts = np.flatnonzero(np.diff(groups.group, prepend=-1))
    ends = np.append(starts[1:], groups.group.size)
    for start in starts[1:]:
        fig.add_vline(x=float(start) - 0.5, line_width=1.5, line_color="white")
    if len(starts) <= 12:
        for start, end in zip(starts, ends, strict=True):
            name = groups.names[int(groups.group[start])]
            fig.add_annotation(x=(start + end - 1) / 2, y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                               text=html.escape(name), font={"size": 11})


def fac_bars(frame: pd.DataFrame) -> go.Figure:
    """Grouped bars of FAC, FAC_freq and FAC_magnitude per dataset (columns dataset, fac, fac_freq, fac_magnitude)."""
    fig = go.Figure()
    for column in ("fac", "fac_freq", "fac_magnitude"):
        fig.add_trace(go.Bar(x=frame["dataset"], y=frame[column], name=FAC_NAMES[column],
                             marker_color=FAC_COLORS[column], text=[f"{100 * v:.1f} %" for v in frame[column]],
                             textposition="outside", hovertemplate="%{x}: %{y:.2%}<extra>" + FAC_NAMES[column]
                             + "</extra>"))
    fig.update_layout(barmode="group", height=360, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      yaxis={"title": "coverage of the anchor's features", "tickformat": ".0%", "range": [0, 1.1]},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    return fig


def frequency_histogram(fractions: Mapping[str, np.ndarray]) -> go.Figure:
    """Overlaid histograms of log10(share of samples activating a feature), over each dataset's active features."""
    fig = go.Figure()
    lowest = LOG_FLOOR
    for name, frac in fractions.items():
        active = np.asarray(frac)[np.asarray(frac) > 0]
        if active.size:
            lowest = min(lowest, float(np.floor(np.log10(active.min()))))
        fig.add_trace(go.Histogram(x=np.log10(active) if active.size else [], name=f"{name} ({active.size:,})",
                                   opacity=0.6, xbins={"size": 0.1},
                                   hovertemplate="10^%{x}: %{y} features<extra>" + html.escape(name) + "</extra>"))
    ticks = np.arange(lowest, 0.5)
    fig.update_layout(barmode="overlay", height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis={"title": "share of samples activating the feature (log scale)",
                             "tickvals": ticks.tolist(), "ticktext": [f"{100 * 10 ** t:g} %" for t in ticks]},
                      yaxis={"title": "features"}, legend={"orientation": "h", "y": 1.12})
    return fig
