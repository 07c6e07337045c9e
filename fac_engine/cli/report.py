"""`fac report`: one self-contained HTML page for stakeholders, optionally with PNG copies of its figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fac_engine.atomic import check_write_target
from fac_engine.cli.common import add_project_option, add_workspace_option, open_project, workspace_root


def add_report(p: argparse.ArgumentParser) -> None:
    """`fac report`."""
    add_project_option(p, "whose anchor, seed and synthesis are reported")
    p.add_argument("--evaluation", default=None,
                   help="saved evaluation to include (default: the latest in <workspace>/.evaluations)")
    p.add_argument("--out", type=Path, default=Path("report.html"), help="HTML file to write (default report.html)")
    p.add_argument("--png-dir", type=Path, default=None,
                   help="also write each figure as a PNG into this folder (needs Chromium)")
    add_workspace_option(p)
    p.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Build and write the report; PNGs when asked and a browser is at hand."""
    from fac_engine.report.build import build_report, write_report

    check_write_target(args.out, "--out")
    if args.png_dir is not None:
        check_write_target(args.png_dir, "--png-dir", folder=True)
    project = open_project(args)
    report = build_report(workspace_root(args), project.name, args.evaluation)
    path = write_report(report, args.out)
    before, after = report.data.coverage.before, report.data.coverage.after
    evaluation = report.data.evaluation
    print(f"FAC {100 * before.fac:.2f} % -> {100 * after.fac:.2f} % with {report.data.coverage.accepted:,} accepted "
          f"samples; evaluation: {evaluation.name if evaluation is not None else 'none saved'}")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, opens offline in any browser)")
    if args.png_dir is None:
        return 0
    from fac_engine.report.png import PngExportError, export_pngs

    try:
        pngs = export_pngs(report.figures, args.png_dir)
    except PngExportError as exc:
        print(f"PNG export skipped: {exc}. The HTML report is complete without it.", file=sys.stderr)
        return 0
    print(f"wrote {len(pngs)} PNG figures to {args.png_dir}: {', '.join(p.name for p in pngs)}")
    return 0
