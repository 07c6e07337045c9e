"""The `fac` command. Each verb lives in its own module and registers a subparser."""

import argparse
import logging
import sys
from collections.abc import Sequence

from fac_engine.cli import info, probe, train_sae
from fac_engine.errors import FacError

VERBS = (info, probe, train_sae)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every verb's subparser."""
    parser = argparse.ArgumentParser(prog="fac", description="FAC Studio: feature activation coverage of datasets.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        verb.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit with code 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        code: int = args.run(args)
    except FacError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code
