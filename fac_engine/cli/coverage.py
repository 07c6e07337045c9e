"""`fac coverage` (FAC of a seed dataset against an anchor) and `fac diversity` (text baselines)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fac_engine.cli.common import add_workspace_option, workspace_root
from fac_engine.cli.flags import ConfigFlags, positive
from fac_engine.coverage.fac import CoverageConfig

MISSING_SHOWN = 30
"""Missing feature ids printed in the text output (JSON lists all)."""
COVERAGE_FLAGS = ConfigFlags(CoverageConfig, only=("threshold",))
"""--threshold."""


def add_coverage(p: argparse.ArgumentParser) -> None:
    """`fac coverage`."""
    p.add_argument("--anchor", required=True, help="encoded anchor dataset (a sample of the target distribution)")
    p.add_argument("--seed", required=True, help="encoded dataset whose coverage is measured")
    COVERAGE_FLAGS.add(p)
    p.add_argument("--relevant", type=Path, default=None,
                   help="file of task-relevant feature ids (default: all features)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_option(p)
    p.set_defaults(run=run_coverage)


def add_diversity(p: argparse.ArgumentParser) -> None:
    """`fac diversity`."""
    p.add_argument("name", help="encoded dataset name")
    p.add_argument("--no-embeddings", action="store_true", help="skip the sentence-embedding cosine distance")
    p.add_argument("--limit", type=positive, default=None, help="use at most this many samples")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_option(p)
    p.set_defaults(run=run_diversity)


def run_coverage(args: argparse.Namespace) -> int:
    """Compute and print FAC, its variants and the missing features."""
    from fac_engine.coverage.fac import compute_coverage, feature_support
    from fac_engine.coverage.relevant_ids import read_relevant_file
    from fac_engine.workspace.datasets import Workspace, check_comparable

    cfg = COVERAGE_FLAGS.build(args)  # a bad threshold fails before any dataset is read
    workspace = Workspace(workspace_root(args))
    anchor, seed = workspace.open(args.anchor), workspace.open(args.seed)
    check_comparable(anchor.manifest, seed.manifest)
    if args.relevant is not None:
        cfg = COVERAGE_FLAGS.build(args, relevant=read_relevant_file(args.relevant, anchor.manifest.d_sae))
    result = compute_coverage(feature_support(seed.pooled_arrays(), cfg.threshold),
                              feature_support(anchor.pooled_arrays(), cfg.threshold), cfg)
    if args.json:
        print(json.dumps({"anchor": args.anchor, "seed": args.seed, **result.to_json_dict()}))
        return 0
    scope = "all features" if cfg.relevant is None else f"{len(cfg.relevant):,} relevant features"
    print(f"FAC({args.seed}; {args.anchor}) = {result.fac:.4f}  ({result.covered:,} of {result.anchor_features:,} "
          f"anchor features covered; {scope}; delta {result.threshold:g})")
    print(f"FAC_freq {result.fac_freq:.4f}   FAC_magnitude {result.fac_magnitude:.4f}   "
          f"seed features {result.seed_features:,}")
    shown = ", ".join(str(i) for i in result.missing[:MISSING_SHOWN])
    more = f", ... ({len(result.missing) - MISSING_SHOWN:,} more; --json lists all)" \
        if len(result.missing) > MISSING_SHOWN else ""
    print(f"missing features ({len(result.missing):,}): {shown}{more}")
    return 0


def run_diversity(args: argparse.Namespace) -> int:
    """Print the text-diversity baselines of one encoded dataset."""
    from fac_engine.coverage.diversity import text_diversity
    from fac_engine.workspace.datasets import Workspace

    data = Workspace(workspace_root(args)).open(args.name)
    texts = [str(t) for t in data.samples(["text"]).column("text").to_pylist()]
    if args.limit is not None:
        texts = texts[: args.limit]
    embed = None
    if not args.no_embeddings:
        from fac_engine.models.sentence import load_sentence_encoder

        embed = load_sentence_encoder().embed
    result = text_diversity(texts, embed=embed)
    if args.json:
        print(json.dumps({"name": args.name, **result.__dict__}))
        return 0
    for key, value in result.__dict__.items():
        print(f"{key:22s} {value if value is None or isinstance(value, int) else f'{value:.4f}'}")
    return 0
