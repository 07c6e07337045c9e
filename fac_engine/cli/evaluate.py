"""`fac evaluate` (a linear probe per training set, scored on a test set, next to each set's FAC) and
`fac report` (one self-contained HTML page for stakeholders, optionally with PNG copies of its figures)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fac_engine.atomic import check_write_target
from fac_engine.cli.common import (
    add_model_options,
    add_project_option,
    add_workspace_option,
    open_project,
    workspace_root,
)
from fac_engine.cli.flags import ConfigFlags, count, positive
from fac_engine.errors import FacError
from fac_engine.evaluation.results import EvalConfig

if TYPE_CHECKING:
    from fac_engine.evaluation.probe import TrainingSet
    from fac_engine.evaluation.results import EvalResult
    from fac_engine.models.loader import LoadedModel

EVAL_FLAGS = ConfigFlags(EvalConfig, skip=("seeds", "relevant"), names={"threshold": "decision-threshold",
                                                                         "fac_threshold": "threshold"})
"""--features, --positive, --decision-threshold, --C, --max-iter, --subsample, --threshold."""


def add_evaluate(p: argparse.ArgumentParser) -> None:
    """`fac evaluate`."""
    p.add_argument("--anchor", required=True, help="encoded anchor dataset FAC is measured against")
    p.add_argument("--test", required=True, help="encoded test dataset")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=DATASET[,DATASET...]",
                   help="a training set: a name and the encoded datasets concatenated into it (repeatable)")
    p.add_argument("--seeds", type=count, default=3, help="number of seeds (probes per set), 0..N-1")
    EVAL_FLAGS.add(p)
    p.add_argument("--relevant", type=Path, default=None, help="file of task-relevant feature ids for FAC")
    p.add_argument("--embeddings", action="store_true",
                   help="add the sentence-embedding cosine distance to the text diversity (loads MiniLM)")
    p.add_argument("--token-budget", type=positive, default=None,
                   help="padded tokens per forward pass (hidden states)")
    p.add_argument("--name", default=None,
                   help="save the result as <workspace>/.evaluations/NAME.json (default: eval-TEST-FEATURES)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_model_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run_evaluate)


def parse_set(spec: str) -> TrainingSet:
    """`NAME=DATASET[,DATASET...]` -> TrainingSet; FacError when it is malformed."""
    from fac_engine.evaluation.probe import TrainingSet

    name, sep, datasets = spec.rpartition("=")
    members = tuple(d.strip() for d in datasets.split(",") if d.strip())
    if not sep or not name.strip() or not members:
        raise FacError(f"--set {spec!r} is not NAME=DATASET[,DATASET...], "
                       "e.g. --set \"seed + FAC=demo-seed,demo-fac\".")
    return TrainingSet(name.strip(), members)


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate, save the JSON and print the table (or the JSON)."""
    from fac_engine.coverage.fac import read_relevant_file
    from fac_engine.evaluation.probe import evaluate_sets
    from fac_engine.evaluation.results import save_evaluation
    from fac_engine.workspace.datasets import Workspace

    if not args.sets:
        raise FacError("Give at least one training set with --set NAME=DATASET[,DATASET...].")
    sets = [parse_set(s) for s in args.sets]
    cfg = EVAL_FLAGS.build(args, seeds=tuple(range(args.seeds)))  # bad values fail before any dataset is read
    workspace = Workspace(workspace_root(args))
    if args.relevant is not None:
        relevant = read_relevant_file(args.relevant, workspace.open(args.anchor).manifest.d_sae)
        cfg = EVAL_FLAGS.build(args, seeds=cfg.seeds, relevant=relevant)
    name = args.name or f"eval-{args.test}-{args.features}"
    embed = None
    if args.embeddings:
        from fac_engine.models.sentence import load_sentence_encoder

        embed = load_sentence_encoder().embed
    with _Bars() as bars:
        result = evaluate_sets(workspace, args.anchor, args.test, sets, cfg, name=name,
                               load_model=lambda: _load_model(args), token_budget=args.token_budget,
                               progress=bars.update, embed=embed)
    path = save_evaluation(workspace.root, result)
    if args.json:
        print(json.dumps(result.to_json_dict()))
        return 0
    print_table(result)
    print(f"saved {path}")
    return 0


def _load_model(args: argparse.Namespace) -> LoadedModel:
    from fac_engine.cli.common import model_spec
    from fac_engine.models.loader import load_model

    return load_model(model_spec(args))


class _Bars:
    """One tqdm bar per dataset whose hidden states are computed."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.name = ""

    def update(self, name: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None or name != self.name:
            self.close()
            self.bar, self.name = tqdm(total=total, desc=f"hidden states {name}", unit="sample"), name
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> _Bars:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def print_table(result: EvalResult) -> None:
    """The per-set table: set, n train, FAC, AUPRC mean ± std, ROC-AUC, F1, distinct-2."""
    cfg = result.config
    print(f"{result.config.features} features, test {result.test} ({result.n_test:,} rows, "
          f"{result.n_test_positive:,} {cfg.positive!r}), FAC against {result.anchor}, {len(cfg.seeds)} seeds, "
          f"{result.seconds:.1f} s")
    width = max(24, *(len(s.name) for s in result.sets))
    print(f"{'set':{width}s} {'n train':>8s} {'FAC':>7s} {'AUPRC':>16s} {'ROC-AUC':>16s} {'F1':>16s} "
          f"{'distinct-2':>10s}")
    for s in result.sets:
        cells = [f"{m.mean:.4f} ± {m.std:.4f}" for m in (s.auprc, s.metric("roc_auc"), s.metric("f1"))]
        print(f"{s.name:{width}s} {s.n_train:>8,} {s.coverage.fac:>7.4f} {cells[0]:>16s} {cells[1]:>16s} "
              f"{cells[2]:>16s} {s.diversity.distinct_2:>10.4f}")
    if len(result.sets) >= 3:
        shown = {x: result.correlation(x) for x in ("fac", "distinct_2")}
        print("Pearson r with AUPRC across sets: " + ", ".join(
            f"{x} {'n/a (constant)' if r is None else f'{r:.3f}'}" for x, r in shown.items()))


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
