"""Tables and the figure of a saved FAC calibration (fac_engine/evaluation/calibrate.py), as pure functions."""

import pandas as pd
import plotly.graph_objects as go

from fac_engine.evaluation.calibration_results import CalibrationResult

KIND_COLORS = {"seed": "#555555", "covers missing": "#1f4e79", "covers none": "#c0504d",
               "missing categories": "#4f81bd", "present categories": "#f79646"}
"""One colour per arm kind, so "covering missing" and "covering none" read apart at a glance."""


def calibration_table(result: CalibrationResult) -> pd.DataFrame:
    """One row per training set: set, kind, rows added, missing features they cover, FAC variants at the first
    delta and scope, AUPRC mean and std."""
    rows = []
    for s in result.sets:
        p = s.fac[0]
        rows.append({"set": s.name, "kind": s.kind, "added": len(s.rows), "covers": s.missing_covered, "fac": p.fac,
                     "fac_freq": p.fac_freq, "fac_magnitude": p.fac_magnitude, "auprc": s.auprc.mean,
                     "auprc_std": s.auprc.std})
    return pd.DataFrame(rows, columns=["set", "kind", "added", "covers", "fac", "fac_freq", "fac_magnitude", "auprc",
                                       "auprc_std"])


def correlation_choices(result: CalibrationResult) -> pd.DataFrame:
    """Pearson and Spearman r of every (delta, scope, variant) choice with AUPRC, best first (undefined last)."""
    rows = [{"delta": c.threshold, "scope": c.scope, "variant": c.variant, "pearson_r": c.pearson,
             "spearman_r": c.spearman} for c in result.correlations]
    frame = pd.DataFrame(rows, columns=["delta", "scope", "variant", "pearson_r", "spearman_r"])
    return frame.sort_values("pearson_r", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def calibration_figure(result: CalibrationResult) -> go.Figure:
    """AUPRC (mean, std over seeds as error bars) against binary FAC at the first delta and scope, one marker per
    training set, coloured by arm kind."""
    fig = go.Figure()
    for kind, color in KIND_COLORS.items():
        sets = [s for s in result.sets if s.kind == kind]
        if not sets:
            continue
        fig.add_trace(go.Scatter(
            x=[s.fac[0].fac for s in sets], y=[s.auprc.mean for s in sets], mode="markers", name=kind,
            marker={"size": 11, "color": color}, text=[s.name for s in sets],
            error_y={"type": "data", "array": [s.auprc.std for s in sets], "visible": True},
            hovertemplate="%{text}<br>FAC %{x:.2%}<br>AUPRC %{y:.4f}<extra></extra>"))
    first = result.sets[0].fac[0]
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend_title_text="arm",
                      xaxis_title=f"FAC (delta {first.threshold:g}, {first.scope} features)", yaxis_title="AUPRC",
                      xaxis_tickformat=".0%")
    return fig
