"""`fac demo-data`: build the demo toxicity project's anchor, seed and test sets from package data."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.data.corpora.demo import DemoSummary


def register(sub: Any) -> None:
    """Add the `demo-data` verb."""
    p = sub.add_parser("demo-data", help="build the demo toxicity data (anchor, seed, test) from package data")
    p.add_argument("--out", type=Path, default=None, help="folder (default: <FAC_HOME>/data/demo)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--force", action="store_true", help="rebuild even if the folder holds a complete build")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build (or reuse) the demo data and print what is in it."""
    from fac_engine.data.corpora.demo import build_demo_data, demo_ready, read_demo_summary

    if demo_ready(args.out, seed=args.seed) and not args.force:
        summary = read_demo_summary(args.out)
        print(f"demo data ready in {summary.out_dir} (seed {summary.seed}; use --force to rebuild)")
    else:
        summary = build_demo_data(args.out, seed=args.seed)
        print(f"wrote the demo data to {summary.out_dir} (seed {summary.seed}) in {summary.seconds or 0:.1f} s")
    print("\n".join(summary_table(summary)))
    return 0


def summary_table(summary: DemoSummary) -> list[str]:
    """Rows per label / source / category and set, a total line, and what the seed lacks."""
    from fac_engine.data.corpora.demo_plan import SET_NAMES

    table = [("label", "source", "category", *SET_NAMES)]
    table += [(s.label, s.source, s.category, *(f"{n[name]:,}" for name in SET_NAMES))
              for s, n in summary.counts.items()]
    table.append(("total", "", "", *(f"{summary.rows(name):,}" for name in SET_NAMES)))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    if summary.seed_excluded:
        lines.append("the seed has no toxic rows of: " + ", ".join(map(str, summary.seed_excluded)))
    return lines
