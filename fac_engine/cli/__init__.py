"""The `fac` command. Each verb lives in its own module and registers a subparser.

Verb modules are imported on demand: `fac coverage` must not pay seconds of torch and
transformers imports that only the model-running verbs need.
"""

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from fac_engine.errors import FacError

VERB_MODULES: dict[str, str] = {
    "info": "info",
    "prepare": "info",
    "probe": "probe",
    "train-sae": "train_sae",
    "corpus": "corpus",
    "encode": "encode",
    "features": "features",
    "coverage": "coverage",
    "datasets": "encode",
    "demo-data": "demo_data",
    "demo": "demo",
    "relevance": "relevance",
    "explain": "explain",
    "synthesize": "synthesize",
    "review": "synthesize",
    "export": "synthesize",
    "evaluate": "evaluate",
    "calibrate": "calibrate",
    "baseline": "baseline",
    "report": "report",
    "match": "crossmodel",
}
"""Verb name -> module in fac_engine.cli that registers it (one module may register several)."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every verb's subparser (or only the module of verb `only`)."""
    parser = argparse.ArgumentParser(prog="fac", description="FAC Studio: feature activation coverage of datasets.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    modules = [VERB_MODULES[only]] if only in VERB_MODULES else list(dict.fromkeys(VERB_MODULES.values()))
    for name in modules:
        importlib.import_module(f"fac_engine.cli.{name}").register(sub)
    return parser


def _verb_of(argv: Sequence[str]) -> str | None:
    """The first argument that names a verb (None for `fac --help` and the like)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _quiet_library_progress() -> None:
    """Hide transformers' own bars ("Loading weights"): the CLI draws bars for the slow steps, and
    a user error must reach stderr as one line, not after a loading bar (`-v` keeps them)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when transformers is first imported
    hf_logging = sys.modules.get("transformers.utils.logging")
    if hf_logging is not None:  # already imported (a notebook, the tests): switch its bars off directly
        hf_logging.disable_progress_bar()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit with code 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_verb_of(argv)).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        _quiet_library_progress()
    try:
        code: int = args.run(args)
    except FacError as exc:
        # One line whatever the message holds (some wrap a library error that spans lines).
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code
