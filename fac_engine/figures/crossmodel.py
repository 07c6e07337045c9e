"""Tables and plotly figures of a feature map between two SAEs and of FAC's agreement across them (pure functions).

Dataset names and explanations are untrusted: figures HTML-escape them; tables keep them as plain cell text.
"""

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fac_engine.crossmodel.agreement_results import AgreementResult, CkaResult
from fac_engine.crossmodel.results import FeatureMap

COLOR_A, COLOR_B, NULL_COLOR = "#1f4e79", "#f79646", "#9e9e9e"
PAIR_COLUMNS = ["feature_a", "explanation_a", "feature_b", "explanation_b", "confidence", "mutual", "pearson",
                "jaccard", "support", "margin", "null", "assigned", "rank"]


def pairs_table(fmap: FeatureMap, explanations_a: dict[int, str], explanations_b: dict[int, str],
                min_confidence: float = 0.0, mutual_only: bool = False, best_only: bool = True) -> pd.DataFrame:
    """One row per candidate pair with both explanations side by side, most confident first (then by A id and
    rank); only each feature's best candidate unless `best_only` is False."""
    p = fmap.pairs.best() if best_only else fmap.pairs
    keep = p.confidence >= min_confidence
    if mutual_only:
        keep &= p.mutual
    p = p.take(keep)
    frame = pd.DataFrame({
        "feature_a": p.feature_a.astype(np.int64), "feature_b": p.feature_b.astype(np.int64),
        "explanation_a": [explanations_a.get(int(f), "") for f in p.feature_a],
        "explanation_b": [explanations_b.get(int(f), "") for f in p.feature_b],
        "confidence": p.confidence.astype(float), "pearson": p.pearson.astype(float),
        "jaccard": p.jaccard.astype(float), "support": p.support.astype(np.int64), "margin": p.margin.astype(float),
        "null": p.null.astype(float), "mutual": p.mutual.astype(bool), "assigned": p.assigned.astype(bool),
        "rank": p.rank.astype(np.int64)}, columns=PAIR_COLUMNS)
    return frame.sort_values(["confidence", "feature_a", "rank"], ascending=[False, True, True],
                             kind="stable").reset_index(drop=True)


def confidence_histogram(fmap: FeatureMap) -> go.Figure:
    """How confident each feature of A's best pair is, mutual pairs and the others stacked."""
    best = fmap.pairs.best()
    fig = go.Figure()
    for name, mask, color in (("mutual", best.mutual, COLOR_A), ("not mutual", ~best.mutual, COLOR_B)):
        fig.add_trace(go.Histogram(x=best.confidence[mask].astype(float).round(6), name=name, marker_color=color,
                                   xbins={"start": 0.0, "end": 1.0001, "size": 0.05},
                                   hovertemplate="confidence %{x}<br>%{y} features<extra>" + name + "</extra>"))
    fig.update_layout(barmode="stack", height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis_title="confidence of the best pair", yaxis_title="features of A", legend_title_text="")
    return fig


def agreement_table(result: AgreementResult) -> pd.DataFrame:
    """One row per dataset: its names in A and B, FAC in each, the pairs compared, their agreement and kappa."""
    rows = [{"dataset_a": s.seed_a, "dataset_b": s.seed_b, "fac_a": s.fac_a, "fac_b": s.fac_b, "pairs": s.table.n,
             "agreement": s.table.agreement, "kappa": s.table.kappa} for s in result.seeds]
    return pd.DataFrame(rows, columns=["dataset_a", "dataset_b", "fac_a", "fac_b", "pairs", "agreement", "kappa"])


def fac_agreement_figure(result: AgreementResult) -> go.Figure:
    """FAC of each dataset in space A and in space B, side by side; the title gives Spearman r."""
    labels = [html.escape(s.seed_a if s.seed_a == s.seed_b else f"{s.seed_a} / {s.seed_b}") for s in result.seeds]
    fig = go.Figure([go.Bar(x=labels, y=[s.fac_a for s in result.seeds], name="space A", marker_color=COLOR_A,
                            hovertemplate="%{x}<br>FAC in A %{y:.2%}<extra></extra>"),
                     go.Bar(x=labels, y=[s.fac_b for s in result.seeds], name="space B", marker_color=COLOR_B,
                            hovertemplate="%{x}<br>FAC in B %{y:.2%}<extra></extra>")])
    rho = "Spearman r needs 3 datasets or more" if result.spearman is None else \
        f"Spearman r = {result.spearman:.3f} across datasets"
    fig.update_layout(barmode="group", height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title={"text": rho, "font": {"size": 13}}, yaxis_title="FAC", yaxis_tickformat=".0%",
                      xaxis_title=f"against {html.escape(result.anchor.a)} / {html.escape(result.anchor.b)}")
    return fig


def cka_figure(cka: CkaResult) -> go.Figure:
    """CKA of random pairings of the decoder rows (histogram) and of the true pairing (a line)."""
    fig = go.Figure(go.Histogram(x=list(cka.null), name="random pairings", marker_color=NULL_COLOR, nbinsx=30,
                                 hovertemplate="CKA %{x}<br>%{y} pairings<extra></extra>"))
    fig.add_vline(x=cka.cka, line_color=COLOR_A, line_width=3,
                  annotation_text=f"matched pairs {cka.cka:.3f}", annotation_position="top left")
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=False,
                      xaxis_title=f"linear CKA of {cka.n_pairs:,} paired decoder directions (p = {cka.p_value:.3g})",
                      yaxis_title="random pairings")
    return fig
