"""The report as one self-contained HTML page: plotly.js inlined once in the head, every figure a div
that draws itself from it, no request leaves the file. Every text that comes from a user, a dataset
or a generator (set names, explanations, samples, settings) goes through html.escape."""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from html import escape
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from fac_engine.coverage.fac import CoverageResult
from fac_engine.report.data import ReportData, evaluate_command
from fac_engine.synthesis.export import PROVENANCE

SAMPLES_SHOWN = 10
"""Accepted synthetic samples listed."""
MISSING_SHOWN = 100
"""Missing features listed (the most frequent in the anchor first)."""
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #1f4e79; padding-bottom: 0.2em; margin-top: 2em; }
.lead { color: #555; } .big { font-size: 1.6em; font-weight: 600; color: #1f4e79; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef3f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; white-space: pre-wrap; }
.sample { white-space: pre-wrap; }
"""


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _maybe(x: object, fmt: str, missing: str = "n/a") -> str:
    """A number formatted, or `missing` for None / NaN."""
    return missing if x is None or pd.isna(x) else format(float(x), fmt)  # type: ignore[arg-type]


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[bool] | None = None) -> str:
    """An HTML table; every cell escaped; `numeric` right-aligns columns."""
    right = list(numeric or [False] * len(headers))
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if r else ""}>{escape(str(c))}</td>'
                                    for c, r in zip(row, right, strict=True)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def settings_block(title: str, settings: Mapping[str, Any]) -> str:
    """A titled, escaped JSON dump of settings."""
    return f"<h3>{escape(title)}</h3><pre>{escape(json.dumps(settings, indent=2, default=str), quote=False)}</pre>"


def figure_div(fig: go.Figure, key: str) -> str:
    """A figure as a div that draws itself with the plotly.js of the page head."""
    return str(pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"fig-{key}",
                           config={"displaylogo": False, "responsive": True}))


def _coverage_line(name: str, r: CoverageResult) -> list[object]:
    return [name, r.seed_samples, _pct(r.fac), f"{r.covered:,} / {r.anchor_features:,}", len(r.missing),
            _pct(r.fac_freq), _pct(r.fac_magnitude)]


def summary_section(data: ReportData) -> str:
    """The headline: FAC before and after, accepted samples, features filled."""
    before, after = data.coverage.before, data.coverage.after
    cfg = data.project
    rows = [_coverage_line(f"seed ({cfg.seed})", before), _coverage_line("seed + accepted synthetic", after)]
    return (f'<h2>Coverage of the anchor</h2><p class="big">FAC {_pct(before.fac)} &rarr; {_pct(after.fac)}</p>'
            f"<p>The seed <b>{escape(str(cfg.seed))}</b> activates {before.covered:,} of the "
            f"{before.anchor_features:,} SAE features of the anchor <b>{escape(str(cfg.anchor))}</b> at "
            f"&delta; = {cfg.threshold:g}. Adding the {data.coverage.accepted:,} accepted synthetic samples covers "
            f"{after.covered:,}: {len(data.filled):,} of the {len(before.missing):,} missing features are filled."
            "</p>" + table(["set", "samples", "FAC", "features covered", "missing", "FAC_freq", "FAC_magnitude"],
                           rows, [False, True, True, True, True, True, True]))


def missing_section(data: ReportData) -> str:
    """The seed's missing features with their explanations and whether synthesis filled them."""
    order = data.missing_order
    if not order.size:
        return "<h2>Missing features</h2><p>The seed activates every feature of the anchor.</p>"
    filled = data.filled
    rows = [[int(f), int(data.anchor_support.count[f]), data.explanations.get(int(f), "(no explanation yet)"),
             "yes" if int(f) in filled else "no"] for f in order[:MISSING_SHOWN]]
    more = f" (the {MISSING_SHOWN} most frequent in the anchor of {order.size:,})" if order.size > MISSING_SHOWN \
        else ""
    return (f"<h2>Missing features</h2><p>Features of the anchor the seed never activates{more}, with their "
            "explanations (what they fire on) and whether an accepted synthetic sample now activates them.</p>"
            + table(["feature", "anchor samples", "explanation", "filled by synthesis"], rows,
                    [True, True, False, False]))


def samples_section(data: ReportData) -> str:
    """Up to SAMPLES_SHOWN accepted samples with their target feature, g and the span that fires it."""
    frame = data.accepted
    if frame.empty:
        return ("<h2>Accepted synthetic samples</h2><p>None yet: run synthesis for the missing features and "
                "accept candidates on the Review page (or with <code>fac review</code>).</p>")
    columns = [c for c in frame.columns if c not in PROVENANCE and c != "label"]
    rows = [["\n".join(f"{c}: {r[c]}" for c in columns) if len(columns) > 1 else r[columns[0]], r["label"],
             int(r["feature"]), f"{float(r['g']):.3f}", r["span"]]
            for r in frame.head(SAMPLES_SHOWN).to_dict("records")]
    html_table = table(["sample", "label", "feature", "g", "span (feature fires on <<...>>)"], rows,
                       [False, False, True, True, False]).replace("<td>", '<td class="sample">')
    fallback = int(frame["x_plus_from_anchor"].sum())
    note = (f" {fallback:,} of them were written from a step-2 pair whose good example is the anchor's top sample "
            "(no step-1 candidate activated the feature)." if fallback else "")
    return (f"<h2>Accepted synthetic samples</h2><p>{min(len(frame), SAMPLES_SHOWN)} of {len(frame):,} accepted "
            f"samples, with the feature each was written for and its activation g.{note}</p>" + html_table)


def evaluation_section(data: ReportData, figures: Mapping[str, go.Figure]) -> str:
    """The downstream evaluation: the table, FAC vs AUPRC and the text-diversity baselines."""
    result = data.evaluation
    if result is None:
        return ("<h2>Downstream evaluation</h2><p>No evaluation is saved in this workspace yet. Train a probe on "
                "the seed with and without the synthetic samples, for example:</p>"
                f"<pre>{escape(evaluate_command(data.workspace, data.project))}</pre>")
    from fac_engine.figures.evaluation import correlation_table, evaluation_table

    frame = evaluation_table(result)
    rows = [[r["set"], f"{r['n_train']:,}", _pct(r["fac"]), f"{r['auprc']:.4f} ± {r['auprc_std']:.4f}",
             f"{r['roc_auc']:.4f} ± {r['roc_auc_std']:.4f}", f"{r['f1']:.4f} ± {r['f1_std']:.4f}",
             f"{r['distinct_1']:.4f}", f"{r['distinct_2']:.4f}", f"{r['entropy_2']:.3f}"]
            for r in frame.to_dict("records")]
    corr = [[r["metric"], _maybe(r["pearson_r"], ".3f"), _maybe(r["paper_r"], ".2f", missing="")]
            for r in correlation_table(result).to_dict("records")]
    return (f"<h2>Downstream evaluation: {escape(result.name)}</h2><p>A linear probe ({escape(result.config.features)}"
            f" features) trained on each set and scored on <b>{escape(result.test)}</b> ({result.n_test:,} rows, "
            f"{result.n_test_positive:,} {escape(repr(result.config.positive))}); FAC against "
            f"<b>{escape(result.anchor)}</b>; mean ± std over {len(result.config.seeds)} seeds.</p>"
            + table(["set", "n train", "FAC", "AUPRC", "ROC-AUC", "F1", "distinct-1", "distinct-2",
                     "bigram entropy"], rows, [False] + [True] * 8)
            + figure_div(figures["fac_vs_auprc"], "fac_vs_auprc")
            + "<p>Pearson r of each quantity with the mean AUPRC across the sets: in the paper FAC tracks "
              "downstream quality where text diversity does not.</p>"
            + table(["metric", "Pearson r with AUPRC", "paper"], corr, [False, True, True])
            + figure_div(figures["diversity_vs_auprc"], "diversity_vs_auprc"))


def settings_section(data: ReportData) -> str:
    """The settings that produced the numbers: project, model and SAE identity, synthesis jobs, evaluation."""
    identity = {"model": data.anchor.model, "sae": data.anchor.sae, "sae_path": data.anchor.sae_path,
                "layer": data.anchor.layer, "d_sae": data.anchor.d_sae, "anchor_samples": data.anchor.n_samples,
                "seed_samples": data.seed.n_samples}
    parts = [settings_block("Project", asdict(data.project)), settings_block("Model and SAE (as encoded)", identity)]
    parts += [settings_block(f"Synthesis job {job}", config) for job, config in data.jobs.items()]
    if data.evaluation is not None:
        ev = data.evaluation
        parts.append(settings_block(f"Evaluation {ev.name}", {
            "config": ev.config.to_json_dict(), "anchor": ev.anchor, "test": ev.test, "model": ev.model,
            "sae": ev.sae, "layer": ev.layer, "sets": {s.name: list(s.datasets) for s in ev.sets},
            "seconds": ev.seconds, "created": ev.created}))
    return "<h2>Settings</h2>" + "".join(parts)


def render_html(data: ReportData, figures: Mapping[str, go.Figure]) -> str:
    """The whole page."""
    title = f"FAC report · {data.project.name}"
    body = [f"<h1>{escape(title)}</h1><p class=lead>Workspace {escape(str(data.workspace))} · made "
            f"{escape(data.created)} · FAC Studio</p>", summary_section(data),
            figure_div(figures["fac_before_after"], "fac_before_after"),
            "<h3>Coverage heatmap</h3><p>Columns: the anchor's features, the seed's missing ones first; colour: "
            "share of each row's samples that activate the feature.</p>",
            figure_div(figures["coverage_heatmap"], "coverage_heatmap"), missing_section(data),
            samples_section(data), evaluation_section(data, figures), settings_section(data)]
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<meta name=viewport content='width=device-width, initial-scale=1'><style>{STYLE}</style>"
            f"<script>{get_plotlyjs()}</script></head><body>{''.join(body)}</body></html>")
