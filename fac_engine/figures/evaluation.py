"""The table and plotly figures of a saved evaluation, as pure functions (no streamlit here).

The Evaluation page and the HTML report (fac_engine/report/build.py) draw the same table and figures from
these, so a number a stakeholder reads in the report is the number the page shows.
"""

import html
from typing import Literal

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fac_engine.evaluation.results import EvalResult

Quantity = Literal["fac", "distinct_1", "distinct_2", "entropy_2"]
QUANTITIES: dict[Quantity, str] = {"fac": "FAC", "distinct_1": "distinct-1", "distinct_2": "distinct-2",
                                   "entropy_2": "bigram entropy (bits)"}
"""What each training set is plotted against its AUPRC by, and the axis name."""
PAPER_R = {"fac": 0.95, "distinct_1": -0.58, "entropy_2": 0.57}
"""Pearson r with AUPRC the paper reports on toxicity detection (docs/METHOD.md section 5)."""
POINT_COLOR = "#1f4e79"


def evaluation_table(result: EvalResult) -> pd.DataFrame:
    """One row per training set: set, n train, FAC, AUPRC mean and std, ROC-AUC, F1, distinct-1/2, entropy."""
    rows = []
    for s in result.sets:
        roc, f1 = s.metric("roc_auc"), s.metric("f1")
        rows.append({"set": s.name, "n_train": s.n_train, "fac": s.coverage.fac, "auprc": s.auprc.mean,
                     "auprc_std": s.auprc.std, "roc_auc": roc.mean, "roc_auc_std": roc.std, "f1": f1.mean,
                     "f1_std": f1.std, "distinct_1": s.diversity.distinct_1, "distinct_2": s.diversity.distinct_2,
                     "entropy_2": s.diversity.entropy_2})
    return pd.DataFrame(rows, columns=["set", "n_train", "fac", "auprc", "auprc_std", "roc_auc", "roc_auc_std",
                                       "f1", "f1_std", "distinct_1", "distinct_2", "entropy_2"])


def correlation_table(result: EvalResult) -> pd.DataFrame:
    """Pearson r of FAC and of each text-diversity metric with the mean AUPRC (None with < 3 sets)."""
    return pd.DataFrame([{"metric": QUANTITIES[q], "pearson_r": result.correlation(q), "paper_r": PAPER_R.get(q)}
                         for q in QUANTITIES])


def r_text(r: float | None, n_sets: int) -> str:
    """`Pearson r = 0.912`, or why there is none."""
    if n_sets < 3:
        return f"Pearson r needs at least 3 training sets ({n_sets} here)"
    return "Pearson r: n/a (a constant column)" if r is None else f"Pearson r = {r:.3f}"


def fac_auprc_figure(result: EvalResult) -> go.Figure:
    """Mean AUPRC (error bars: std over seeds) against FAC, one labelled point per training set (the
    paper's figure 3); the title gives Pearson r when there are at least 3 sets."""
    table = evaluation_table(result)
    names = [html.escape(str(n)) for n in table["set"]]
    fig = go.Figure(go.Scatter(
        x=table["fac"], y=table["auprc"], error_y={"type": "data", "array": table["auprc_std"], "visible": True},
        mode="markers+text", text=names, textposition="top center", marker={"size": 11, "color": POINT_COLOR},
        customdata=table[["n_train", "auprc_std"]].to_numpy(),
        hovertemplate="<b>%{text}</b><br>FAC %{x:.2%}<br>AUPRC %{y:.4f} ± %{customdata[1]:.4f}"
                      "<br>%{customdata[0]:,} training rows<extra></extra>"))
    r = r_text(result.pearson_fac_auprc, len(result.sets))
    low, high = float(table["fac"].min()), float(table["fac"].max())
    # Room for the labels (one FAC value alone would span 0-200 %); FAC never exceeds 1.
    pad = max(0.001, 0.25 * (high - low))
    decimals = 0 if high - low >= 0.05 else 1 if high - low >= 0.005 else 2
    fig.update_layout(title=f"Downstream AUPRC against FAC · {r}", height=420,
                      margin={"l": 10, "r": 10, "t": 60, "b": 10}, showlegend=False,
                      xaxis={"title": f"FAC against {html.escape(result.anchor)}", "tickformat": f".{decimals}%",
                             "range": [max(0.0, low - pad), min(1.0, high + pad) + pad / 2]},
                      yaxis={"title": f"AUPRC on {html.escape(result.test)} (mean ± std over "
                                      f"{len(result.config.seeds)} seeds)"})
    return fig


def diversity_figure(result: EvalResult) -> go.Figure:
    """Mean AUPRC against FAC and against each text-diversity metric, side by side, each panel titled
    with its Pearson r: FAC should rise with AUPRC where text diversity need not."""
    table = evaluation_table(result)
    titles = [f"{name}<br><sub>{r_text(result.correlation(q), len(result.sets))}</sub>"
              for q, name in QUANTITIES.items()]
    fig = make_subplots(rows=1, cols=len(QUANTITIES), subplot_titles=titles, shared_yaxes=True,
                        horizontal_spacing=0.04)
    names = [html.escape(str(n)) for n in table["set"]]
    for col, (q, name) in enumerate(QUANTITIES.items(), start=1):
        fig.add_trace(go.Scatter(x=table[q], y=table["auprc"], mode="markers", text=names, showlegend=False,
                                 marker={"size": 9, "color": POINT_COLOR},
                                 hovertemplate=f"<b>%{{text}}</b><br>{name} %{{x:.4f}}<br>AUPRC %{{y:.4f}}"
                                               "<extra></extra>"), row=1, col=col)
        fig.update_xaxes(tickformat=".2%" if q == "fac" else None, row=1, col=col)
    fig.update_yaxes(title_text="mean AUPRC", row=1, col=1)
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 70, "b": 10})
    return fig
