"""The tables and plotly figures of a saved evaluation, as pure functions (no streamlit here).

The Evaluation page and the HTML report (fac_engine/report/build.py) draw the same table and figures from
these, so a number a stakeholder reads in the report is the number the page shows. A headroom arm (real
anchor rows, evaluation/headroom.py) is drawn as an open diamond, its name saying "(real)".
"""

import html
from typing import Literal

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fac_engine.evaluation.results import CategoryMetric, EvalResult

Quantity = Literal["fac", "distinct_1", "distinct_2", "entropy_2"]
QUANTITIES: dict[Quantity, str] = {"fac": "FAC", "distinct_1": "distinct-1", "distinct_2": "distinct-2",
                                   "entropy_2": "bigram entropy (bits)"}
"""What each training set is plotted against its AUPRC by, and the axis name."""
PAPER_R = {"fac": 0.95, "distinct_1": -0.58, "entropy_2": 0.57}
"""Pearson r with AUPRC the paper reports on toxicity detection (docs/METHOD.md section 5)."""
POINT_COLOR = "#1f4e79"
CATEGORY_METRICS: dict[CategoryMetric, str] = {"recall": "recall at the decision threshold",
                                               "auprc": "AUPRC against all negatives"}
"""The per-category metrics and their names."""


def evaluation_table(result: EvalResult) -> pd.DataFrame:
    """One row per training set: set, n train, FAC, AUPRC mean and std, ROC-AUC, F1, DES, distinct-1/2,
    entropy, and whether it is the real headroom arm."""
    rows = []
    for s in result.sets:
        roc, f1, des = s.metric("roc_auc"), s.metric("f1"), s.des
        rows.append({"set": s.name, "n_train": s.n_train, "fac": s.coverage.fac, "auprc": s.auprc.mean,
                     "auprc_std": s.auprc.std, "roc_auc": roc.mean, "roc_auc_std": roc.std, "f1": f1.mean,
                     "f1_std": f1.std, "des": des.mean, "des_std": des.std, "distinct_1": s.diversity.distinct_1,
                     "distinct_2": s.diversity.distinct_2, "entropy_2": s.diversity.entropy_2,
                     "real": s.headroom is not None})
    return pd.DataFrame(rows, columns=["set", "n_train", "fac", "auprc", "auprc_std", "roc_auc", "roc_auc_std",
                                       "f1", "f1_std", "des", "des_std", "distinct_1", "distinct_2", "entropy_2",
                                       "real"])


def category_table(result: EvalResult) -> pd.DataFrame:
    """One row per training set and test category: recall and AUPRC of the category's positive rows (mean and
    std over the seeds); empty when the test set has no categories."""
    rows = []
    for s in result.sets:
        for c in result.categories:
            recall, auprc = s.category_metric(c.name, "recall"), s.category_metric(c.name, "auprc")
            rows.append({"set": s.name, "category": c.name, "n_positive": c.n_positive, "recall": recall.mean,
                         "recall_std": recall.std, "auprc": auprc.mean, "auprc_std": auprc.std})
    return pd.DataFrame(rows, columns=["set", "category", "n_positive", "recall", "recall_std", "auprc",
                                       "auprc_std"])


def category_heatmap(result: EvalResult, metric: CategoryMetric = "recall") -> go.Figure:
    """Training sets (rows) x test categories (columns), coloured by the mean `metric` of the category's
    positive rows from 0 (red: the set's probe misses them) to 1 (blue: it catches them), mean ± std written
    in each cell."""
    table = category_table(result)
    z = table.pivot(index="set", columns="category", values=metric)
    std = table.pivot(index="set", columns="category", values=f"{metric}_std")
    sets, names = [s.name for s in result.sets], [c.name for c in result.categories]
    z, std = z.loc[sets, names], std.loc[sets, names]
    labels = [f"{c.name} ({c.n_positive:,})" for c in result.categories]
    columns = [html.escape(label) for label in labels]
    rows = [html.escape(n) for n in sets]
    text = [[f"{m:.2f} ± {d:.2f}" for m, d in zip(zr, dr, strict=True)]
            for zr, dr in zip(z.to_numpy(), std.to_numpy(), strict=True)]
    fig = go.Figure(go.Heatmap(z=z.to_numpy().tolist(), x=columns, y=rows, text=text, texttemplate="%{text}", zmin=0.0,
                               zmax=1.0, colorscale="RdYlBu", colorbar={"title": {"text": metric}},
                               hovertemplate="<b>%{y}</b><br>%{x}<br>" + CATEGORY_METRICS[metric]
                                             + " %{text}<extra></extra>"))
    positive = html.escape(result.config.positive)
    fig.update_layout(title=f"Per test category: {CATEGORY_METRICS[metric]} of its {positive} rows",
                      height=max(260, 90 + 46 * len(sets)),
                      margin={"l": 10, "r": 10, "t": 60, "b": 10},
                      xaxis={"title": f"{html.escape(str(result.config.category))} (positive test rows)",
                             "tickvals": columns, "ticktext": [html.escape(_short(label)) for label in labels]},
                      yaxis={"autorange": "reversed"})
    return fig


def _short(label: str, limit: int = 28) -> str:
    """A tick label cut to `limit` characters (the hover keeps the whole name)."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


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
        mode="markers+text", text=names, textposition="top center",
        marker={"size": 11, "color": POINT_COLOR,
                "symbol": ["diamond-open" if real else "circle" for real in table["real"]]},
        customdata=[[n, std, "<br>real anchor rows: an upper reference" if real else ""]
                    for n, std, real in zip(table["n_train"], table["auprc_std"], table["real"], strict=True)],
        hovertemplate="<b>%{text}</b><br>FAC %{x:.2%}<br>AUPRC %{y:.4f} ± %{customdata[1]:.4f}"
                      "<br>%{customdata[0]:,} training rows%{customdata[2]}<extra></extra>"))
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
