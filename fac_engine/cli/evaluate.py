"""`fac evaluate`: train a linear probe per training set, score it on a test set, next to each set's FAC."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fac_engine.cli.common import add_model_options, add_workspace_option, workspace_root
from fac_engine.errors import FacError

if TYPE_CHECKING:
    from fac_engine.evaluation.probe import TrainingSet
    from fac_engine.evaluation.results import EvalResult
    from fac_engine.models.loader import LoadedModel


def register(sub: Any) -> None:
    """Add the `evaluate` verb."""
    p = sub.add_parser("evaluate", help="downstream evaluation: a linear probe per training set, scored on a test set")
    p.add_argument("--anchor", required=True, help="encoded anchor dataset FAC is measured against")
    p.add_argument("--test", required=True, help="encoded test dataset")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=DATASET[,DATASET...]",
                   help="a training set: a name and the encoded datasets concatenated into it (repeatable)")
    p.add_argument("--features", choices=["hidden", "sae"], default="hidden",
                   help="hidden: the LM's mean hidden states at the SAE's layer (the paper's head-only protocol); "
                        "sae: the pooled SAE codes in the workspace (no model run)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (probes per set), 0..N-1")
    p.add_argument("--positive", default="toxic", help="the positive label (every other label is negative)")
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    p.add_argument("--subsample", type=float, default=0.9, help="stratified share of training rows per seed")
    p.add_argument("--decision-threshold", type=float, default=0.5, help="probability threshold for F1")
    p.add_argument("--threshold", type=float, default=0.0, help="FAC delta: a feature is active when g > delta")
    p.add_argument("--relevant", type=Path, default=None, help="file of task-relevant feature ids for FAC")
    p.add_argument("--embeddings", action="store_true",
                   help="add the sentence-embedding cosine distance to the text diversity (loads MiniLM)")
    p.add_argument("--token-budget", type=int, default=None, help="padded tokens per forward pass (hidden states)")
    p.add_argument("--name", default=None,
                   help="save the result as <workspace>/.evaluations/NAME.json (default: eval-TEST-FEATURES)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_model_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run)


def parse_set(spec: str) -> TrainingSet:
    """`NAME=DATASET[,DATASET...]` -> TrainingSet; FacError when it is malformed."""
    from fac_engine.evaluation.probe import TrainingSet

    name, sep, datasets = spec.rpartition("=")
    members = tuple(d.strip() for d in datasets.split(",") if d.strip())
    if not sep or not name.strip() or not members:
        raise FacError(f"--set {spec!r} is not NAME=DATASET[,DATASET...], "
                       "e.g. --set \"seed + FAC=demo-seed,demo-fac\".")
    return TrainingSet(name.strip(), members)


def run(args: argparse.Namespace) -> int:
    """Evaluate, save the JSON and print the table (or the JSON)."""
    from fac_engine.coverage.relevant_ids import read_relevant_file
    from fac_engine.evaluation.probe import evaluate_sets
    from fac_engine.evaluation.results import EvalConfig, save_evaluation
    from fac_engine.workspace.datasets import Workspace

    if not args.sets:
        raise FacError("Give at least one training set with --set NAME=DATASET[,DATASET...].")
    sets = [parse_set(s) for s in args.sets]
    workspace = Workspace(workspace_root(args))
    relevant = None
    if args.relevant is not None:
        relevant = read_relevant_file(args.relevant, workspace.open(args.anchor).manifest.d_sae)
    try:
        cfg = EvalConfig(features=args.features, seeds=tuple(range(args.seeds)), positive=args.positive,
                         threshold=args.decision_threshold, C=args.C, subsample=args.subsample,
                         fac_threshold=args.threshold, relevant=relevant)
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    name = args.name or f"eval-{args.test}-{args.features}"
    embed = None
    if args.embeddings:
        from fac_engine.models.sentence import load_sentence_encoder

        embed = load_sentence_encoder().embed
    with _Bars() as bars:
        result = evaluate_sets(workspace, args.anchor, args.test, sets, cfg, name=name,
                               load_model=lambda: load_model_of(args), token_budget=args.token_budget,
                               progress=bars.update, embed=embed)
    path = save_evaluation(workspace.root, result)
    if args.json:
        print(json.dumps(result.to_json_dict()))
        return 0
    print_table(result)
    print(f"saved {path}")
    return 0


def load_model_of(args: argparse.Namespace) -> LoadedModel:
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
