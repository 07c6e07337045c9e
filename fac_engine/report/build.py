"""The stakeholder report of a project: what the seed missed, what synthesis added, whether it helped.

`build_report` gathers the data (fac_engine/report/data.py), draws the figures and renders one
self-contained HTML file (fac_engine/report/html.py: plotly.js inlined once, no network needed). PNG
copies of the figures are made by fac_engine/report/png.py when a Chromium is at hand.
"""

from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go

from fac_engine.atomic import atomic_file
from fac_engine.report.data import ReportData, collect, report_figures
from fac_engine.report.html import render_html


@dataclass(frozen=True)
class Report:
    """A rendered report."""

    data: ReportData
    """What it shows."""
    figures: dict[str, go.Figure]
    """Its figures by file stem (also the PNG names)."""
    html: str
    """The self-contained HTML page."""



def build_report(workspace_root: Path, project_name: str, evaluation: str | None = None) -> Report:
    """Collect, draw and render the report of a project."""
    data = collect(workspace_root, project_name, evaluation)
    figures = report_figures(data)
    return Report(data, figures, render_html(data, figures))


def write_report(report: Report, out: Path) -> Path:
    """Write the HTML atomically; returns the path."""
    with atomic_file(Path(out)) as tmp:
        tmp.write_text(report.html, encoding="utf-8")
    return Path(out)
