"""`fac relevance`: the task-relevant features of a labelled anchor, by label contrast."""

import argparse
import json
from pathlib import Path
from typing import Any

from fac_engine.cli.common import add_workspace_option, workspace_root


def register(sub: Any) -> None:
    """Add the `relevance` verb."""
    p = sub.add_parser("relevance", help="task-relevant features of a labelled anchor by label contrast")
    p.add_argument("--anchor", required=True, help="encoded anchor dataset with a label column")
    p.add_argument("--label", required=True, help="the label whose features are relevant (e.g. toxic)")
    p.add_argument("--threshold", type=float, default=0.0, help="delta: a feature fires on a sample when g > delta")
    p.add_argument("--min-log-odds", type=float, default=1.0, help="least smoothed log-odds ratio (natural log)")
    p.add_argument("--max-p", type=float, default=0.01, help="largest one-sided two-proportion z-test p-value")
    p.add_argument("--min-samples", type=int, default=3, help="least samples of the label it fires on")
    p.add_argument("--out", type=Path, default=None, help="write the ids here (for fac coverage --relevant)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compute, print and optionally write the relevant features."""
    import numpy as np

    from fac_engine.errors import FacError
    from fac_engine.relevance import ContrastConfig, label_contrast, write_relevant_file
    from fac_engine.slices import label_slices
    from fac_engine.store import Workspace

    data = Workspace(workspace_root(args)).open(args.anchor)
    if not data.manifest.label_field:
        raise FacError(f"{args.anchor!r} has no label column; encode it with --label-field.")
    try:
        cfg = ContrastConfig(args.label, args.min_log_odds, args.max_p, args.min_samples)
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    labels = np.asarray(data.samples(["label"]).column("label").to_pylist(), dtype=object)
    slices = label_slices(data.pooled_arrays(with_samples=True), labels, args.threshold)
    result = label_contrast(slices, cfg)
    if args.out is not None:
        write_relevant_file(args.out, result, f"fac relevance --anchor {args.anchor} --label {args.label} "
                            f"--threshold {args.threshold:g} --min-log-odds {args.min_log_odds:g} "
                            f"--max-p {args.max_p:g} --min-samples {args.min_samples}")
    top = [{"feature": int(f), "log_odds": round(float(result.log_odds[f]), 4),
            "p_value": float(result.p_value[f])} for f in result.features]
    if args.json:
        print(json.dumps({"anchor": args.anchor, "label": args.label, "relevant": top,
                          "n_label": result.n_label, "n_other": result.n_other}))
        return 0
    print(f"{len(top):,} features relevant to {args.label!r} in {args.anchor} ({result.n_label:,} {args.label} vs "
          f"{result.n_other:,} other samples)" + (f"; written to {args.out}" if args.out else ""))
    for row in top[:15]:
        print(f"  feature {row['feature']:>6}  log-odds {row['log_odds']:6.2f}  p {row['p_value']:.2g}")
    return 0
