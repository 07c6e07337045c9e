"""`fac features NAME`: per-feature statistics of an encoded dataset, or one feature's top samples."""

import argparse
import json
from typing import Any

from fac_engine.cli.common import add_workspace_option, workspace_root


def register(sub: Any) -> None:
    """Add the `features` verb."""
    p = sub.add_parser("features", help="feature statistics of an encoded dataset, or one feature's top samples")
    p.add_argument("name", help="encoded dataset name")
    p.add_argument("--feature", type=int, default=None, help="show this feature's statistics and top samples")
    p.add_argument("--top", type=int, default=None,
                   help="top samples to show (with --feature; default 10) or table rows (default all)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_option(p)
    p.set_defaults(run=run)


def _mark(tokens: list[str], acts: list[float], start: int) -> str:
    """The sample's content with each active token followed by [activation]."""
    parts = [f"{t}[{a:.2f}]" if a > 0 else t for t, a in zip(tokens[start:], acts[start:], strict=True)]
    return "".join(parts).replace("\n", " ")


def run(args: argparse.Namespace) -> int:
    """Print the table or one feature's report."""
    from fac_engine.features.queries import feature_report, feature_stats_frame
    from fac_engine.workspace.datasets import Workspace

    data = Workspace(workspace_root(args)).open(args.name)
    if args.feature is None:
        frame = feature_stats_frame(data)
        if args.top is not None:
            frame = frame.head(args.top)
        if args.json:
            print(json.dumps(frame.to_dict(orient="records")))
        else:
            print(f"{len(frame):,} active features of {data.manifest.d_sae:,} in {args.name} "
                  f"({data.manifest.n_samples:,} samples)")
            print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        return 0
    report = feature_report(data, args.feature, top=10 if args.top is None else args.top)
    if args.json:
        print(json.dumps(report.to_json_dict()))
        return 0
    print(f"feature {report.feature}: active on {report.n_active:,} samples ({100 * report.frac_active:.2f}%), "
          f"max {report.max:.3g}, mean {report.mean:.3g}")
    print(f"histogram (equal bins over (0, max]): {report.hist}")
    for e in report.examples:
        label = "" if e.label is None else f" label={e.label}"
        print(f"  [{e.kind} #{e.rank}] sample {e.sample} g={e.value:.3g}{label}: "
              f"{_mark(e.tokens.tokens, e.tokens.activations, e.tokens.content_start)}")
    return 0
